//! A small backtracking regular-expression matcher for patch and replacement selectors
//! (anchored `^(?:…)$` matches of names, kinds and namespaces).
//!
//! Supports literals, `.`, classes (`[a-z]`, `[^…]`, `\d \w \s`), groups (`(…)`, `(?:…)`),
//! alternation, `* + ?` and `{n}`/`{n,}`/`{n,m}`. Matching is bounded by a step budget so hostile
//! patterns cannot hang a build.

#[derive(Debug, Clone)]
enum Atom {
    Char(char),
    Any,
    Class(Vec<(char, char)>, bool),
    Group(Box<Node>),
    Start,
    End,
}

#[derive(Debug, Clone)]
struct Piece {
    atom: Atom,
    min: usize,
    max: usize,
}

#[derive(Debug, Clone)]
struct Node(Vec<Vec<Piece>>);

/// A compiled pattern.
#[derive(Debug, Clone)]
pub(crate) struct Regex {
    node: Node,
}

struct Parser<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    depth: usize,
}

impl Parser<'_> {
    fn alt(&mut self) -> Option<Node> {
        self.depth += 1;
        if self.depth > 50 {
            return None;
        }
        let mut alts = vec![Vec::new()];
        while let Some(&c) = self.chars.peek() {
            match c {
                ')' => break,
                '|' => {
                    self.chars.next();
                    alts.push(Vec::new());
                }
                _ => {
                    let atom = self.atom()?;
                    let (min, max) = self.quant()?;
                    alts.last_mut()?.push(Piece { atom, min, max });
                }
            }
        }
        self.depth -= 1;
        Some(Node(alts))
    }

    fn quant(&mut self) -> Option<(usize, usize)> {
        let q = match self.chars.peek() {
            Some('*') => (0, usize::MAX),
            Some('+') => (1, usize::MAX),
            Some('?') => (0, 1),
            Some('{') => {
                self.chars.next();
                let mut spec = String::new();
                for c in self.chars.by_ref() {
                    if c == '}' {
                        break;
                    }
                    spec.push(c);
                }
                let (a, b) = match spec.split_once(',') {
                    Some((a, "")) => (a.trim().parse().ok()?, usize::MAX),
                    Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
                    None => {
                        let n = spec.trim().parse().ok()?;
                        (n, n)
                    }
                };
                if self.chars.peek() == Some(&'?') {
                    self.chars.next();
                }
                return Some((a, b));
            }
            _ => return Some((1, 1)),
        };
        self.chars.next();
        if self.chars.peek() == Some(&'?') {
            self.chars.next();
        }
        Some(q)
    }

    fn escape(&mut self) -> Option<Atom> {
        let c = self.chars.next()?;
        Some(match c {
            'd' => Atom::Class(vec![('0', '9')], false),
            'D' => Atom::Class(vec![('0', '9')], true),
            'w' => Atom::Class(vec![('a', 'z'), ('A', 'Z'), ('0', '9'), ('_', '_')], false),
            'W' => Atom::Class(vec![('a', 'z'), ('A', 'Z'), ('0', '9'), ('_', '_')], true),
            's' => Atom::Class(vec![(' ', ' '), ('\t', '\t'), ('\n', '\n'), ('\r', '\r')], false),
            'S' => Atom::Class(vec![(' ', ' '), ('\t', '\t'), ('\n', '\n'), ('\r', '\r')], true),
            'n' => Atom::Char('\n'),
            't' => Atom::Char('\t'),
            c => Atom::Char(c),
        })
    }

    fn atom(&mut self) -> Option<Atom> {
        let c = self.chars.next()?;
        Some(match c {
            '.' => Atom::Any,
            '^' => Atom::Start,
            '$' => Atom::End,
            '\\' => self.escape()?,
            '(' => {
                if self.chars.peek() == Some(&'?') {
                    self.chars.next();
                    if self.chars.next()? != ':' {
                        return None;
                    }
                }
                let n = self.alt()?;
                if self.chars.next()? != ')' {
                    return None;
                }
                Atom::Group(Box::new(n))
            }
            '[' => {
                let mut neg = false;
                if self.chars.peek() == Some(&'^') {
                    neg = true;
                    self.chars.next();
                }
                let mut ranges = Vec::new();
                let mut first = true;
                loop {
                    let c = self.chars.next()?;
                    if c == ']' && !first {
                        break;
                    }
                    first = false;
                    let lo = if c == '\\' {
                        match self.escape()? {
                            Atom::Char(c) => c,
                            Atom::Class(r, false) => {
                                ranges.extend(r);
                                continue;
                            }
                            _ => return None,
                        }
                    } else {
                        c
                    };
                    let mut hi = lo;
                    if self.chars.peek() == Some(&'-') {
                        let mut look = self.chars.clone();
                        look.next();
                        if look.peek().is_some_and(|&n| n != ']') {
                            self.chars.next();
                            hi = self.chars.next()?;
                        }
                    }
                    ranges.push((lo, hi));
                }
                Atom::Class(ranges, neg)
            }
            '*' | '+' | '?' | ')' => return None,
            c => Atom::Char(c),
        })
    }
}

impl Regex {
    /// Compiles `pattern`; `None` when it is not understood.
    pub(crate) fn new(pattern: &str) -> Option<Regex> {
        let mut p = Parser {
            chars: pattern.chars().peekable(),
            depth: 0,
        };
        let node = p.alt()?;
        if p.chars.next().is_some() {
            return None;
        }
        Some(Regex { node })
    }

    /// Whether the whole of `text` matches.
    pub(crate) fn full_match(&self, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        let mut budget = 200_000usize;
        match_node(&self.node, &chars, 0, &mut budget, &mut |p, _| p == chars.len())
    }
}

type Cont<'a> = dyn FnMut(usize, &mut usize) -> bool + 'a;

fn match_node(n: &Node, s: &[char], pos: usize, budget: &mut usize, k: &mut Cont<'_>) -> bool {
    for alt in &n.0 {
        if match_seq(alt, s, pos, budget, k) {
            return true;
        }
    }
    false
}

fn match_seq(seq: &[Piece], s: &[char], pos: usize, budget: &mut usize, k: &mut Cont<'_>) -> bool {
    if *budget == 0 {
        return false;
    }
    *budget -= 1;
    match seq.split_first() {
        None => k(pos, budget),
        Some((piece, rest)) => match_piece(piece, 0, s, pos, budget, &mut |p, b| match_seq(rest, s, p, b, k)),
    }
}

fn match_piece(
    piece: &Piece,
    count: usize,
    s: &[char],
    pos: usize,
    budget: &mut usize,
    k: &mut Cont<'_>,
) -> bool {
    if *budget == 0 {
        return false;
    }
    *budget -= 1;
    // Greedy: try one more repetition first.
    if count < piece.max {
        let more = match_atom(&piece.atom, s, pos, budget, &mut |p, b| {
            if p == pos {
                count + 1 >= piece.min && k(p, b)
            } else {
                match_piece(piece, count + 1, s, p, b, k)
            }
        });
        if more {
            return true;
        }
    }
    count >= piece.min && k(pos, budget)
}

fn match_atom(a: &Atom, s: &[char], pos: usize, budget: &mut usize, k: &mut Cont<'_>) -> bool {
    match a {
        Atom::Char(c) => s.get(pos) == Some(c) && k(pos + 1, budget),
        Atom::Any => s.get(pos).is_some_and(|&c| c != '\n') && k(pos + 1, budget),
        Atom::Class(r, neg) => {
            s.get(pos)
                .is_some_and(|&c| r.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *neg)
                && k(pos + 1, budget)
        }
        Atom::Start => pos == 0 && k(pos, budget),
        Atom::End => pos == s.len() && k(pos, budget),
        Atom::Group(n) => match_node(n, s, pos, budget, k),
    }
}

#[cfg(test)]
mod tests {
    use super::Regex;

    fn m(p: &str, t: &str) -> bool {
        Regex::new(p).is_some_and(|r| r.full_match(t))
    }

    #[test]
    fn basics() {
        assert!(m("abc", "abc"));
        assert!(!m("abc", "abcd"));
        assert!(m("a.*", "abcd"));
        assert!(m(".*-deploy", "my-deploy"));
        assert!(m("(foo|bar)+", "foobarfoo"));
        assert!(m("[a-z0-9-]+", "web-1"));
        assert!(!m("[^a]", "a"));
        assert!(m("a{2,3}", "aaa"));
        assert!(m("^x$", "x"));
        assert!(m("(?:a|b)c?", "b"));
        assert!(m("apps|", ""));
        assert!(!m("(a*)*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    }
}
