//! YAML output in kustomize's style (`sigs.k8s.io/yaml` over go-yaml v2): keys sorted (go-yaml's
//! natural order), 2-space indentation, sequences not indented under their key, multi-line
//! strings as literal blocks, strings that YAML 1.1 would read as something else double-quoted,
//! other strings that cannot be plain single-quoted, long plain and quoted strings folded after
//! column 80.

use gitops_core::Object;
use serde_json::{Map, Number, Value};

const WIDTH: usize = 80;

/// The objects as one YAML stream, documents separated by `---`, as `kustomize build` prints.
pub fn to_yaml(objects: &[Object]) -> String {
    let mut out = String::new();
    for (i, o) in objects.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&value_to_yaml(o.as_value()));
    }
    out
}

/// One value as a YAML document (ends with a newline).
pub fn value_to_yaml(v: &Value) -> String {
    let mut e = Emitter { out: String::new() };
    match v {
        Value::Object(m) if !m.is_empty() => e.map(m, 0, false),
        Value::Array(a) if !a.is_empty() => e.seq(a, 0, false),
        other => {
            e.scalar(other, 0, 0);
            e.out.push('\n');
        }
    }
    e.out
}

struct Emitter {
    out: String,
}

impl Emitter {
    fn indent(&mut self, n: usize) {
        for _ in 0..n {
            self.out.push(' ');
        }
    }

    fn column(&self) -> usize {
        match self.out.rfind('\n') {
            Some(i) => self.out[i + 1..].chars().count(),
            None => self.out.chars().count(),
        }
    }

    /// A mapping at `indent`; with `inline` the first key continues the current line.
    fn map(&mut self, m: &Map<String, Value>, indent: usize, inline: bool) {
        let mut keys: Vec<&String> = m.keys().collect();
        keys.sort_by(|a, b| natural_cmp(a, b));
        for (i, k) in keys.into_iter().enumerate() {
            if i > 0 || !inline {
                self.indent(indent);
            }
            self.scalar_str(k, indent, true);
            self.out.push(':');
            let Some(v) = m.get(k.as_str()) else { continue };
            self.value_after(v, indent, indent + 2, false);
        }
    }

    /// Writes what follows `key:` or `-`.
    fn value_after(&mut self, v: &Value, indent: usize, child: usize, in_seq: bool) {
        match v {
            Value::Object(cm) if !cm.is_empty() => {
                if in_seq {
                    self.out.push(' ');
                    self.map(cm, child, true);
                } else {
                    self.out.push('\n');
                    self.map(cm, child, false);
                }
            }
            Value::Array(a) if !a.is_empty() => {
                if in_seq {
                    self.out.push(' ');
                    self.seq(a, child, true);
                } else {
                    self.out.push('\n');
                    self.seq(a, indent, false);
                }
            }
            other => {
                self.out.push(' ');
                self.scalar(other, child, child);
                self.out.push('\n');
            }
        }
    }

    fn seq(&mut self, a: &[Value], indent: usize, inline: bool) {
        for (i, v) in a.iter().enumerate() {
            if i > 0 || !inline {
                self.indent(indent);
            }
            self.out.push('-');
            self.value_after(v, indent, indent + 2, true);
        }
    }

    fn scalar(&mut self, v: &Value, indent: usize, block_indent: usize) {
        match v {
            Value::Null => self.out.push_str("null"),
            Value::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => self.out.push_str(&number(n)),
            Value::String(s) => {
                if s.contains('\n') && block_allowed(s) {
                    self.literal(s, block_indent);
                } else if s.contains('\n') {
                    self.double_quoted(s, indent, true);
                } else {
                    self.scalar_str(s, indent, false);
                }
            }
            Value::Object(_) => self.out.push_str("{}"),
            Value::Array(_) => self.out.push_str("[]"),
        }
    }

    fn scalar_str(&mut self, s: &str, indent: usize, key: bool) {
        if plain_allowed(s) {
            if key {
                self.out.push_str(s);
            } else {
                self.plain(s, indent);
            }
        } else if !resolves_to_non_string(s) && single_quote_allowed(s) {
            self.single_quoted(s, indent, !key);
        } else {
            self.double_quoted(s, indent, !key);
        }
    }

    /// A single-quoted scalar (`'` doubled), folded at spaces past column 80 when `breaks`.
    fn single_quoted(&mut self, s: &str, indent: usize, breaks: bool) {
        self.out.push('\'');
        let mut col = self.column();
        let chars: Vec<char> = s.chars().collect();
        let mut prev_space = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_space = chars.get(i + 1) == Some(&' ');
                if breaks && !prev_space && col > WIDTH && i != 0 && i + 1 != chars.len() && !next_space {
                    self.out.push('\n');
                    self.indent(indent);
                    col = indent;
                } else {
                    self.out.push(' ');
                    col += 1;
                }
                prev_space = true;
                continue;
            }
            prev_space = false;
            if c == '\'' {
                self.out.push('\'');
                col += 1;
            }
            self.out.push(c);
            col += 1;
        }
        self.out.push('\'');
    }

    fn plain(&mut self, s: &str, indent: usize) {
        let mut col = self.column();
        let chars: Vec<char> = s.chars().collect();
        let mut prev_space = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                if !prev_space && col > WIDTH && chars.get(i + 1).is_some_and(|n| *n != ' ') {
                    self.out.push('\n');
                    self.indent(indent);
                    col = indent;
                } else {
                    self.out.push(c);
                    col += 1;
                }
                prev_space = true;
            } else {
                self.out.push(c);
                col += 1;
                prev_space = false;
            }
        }
    }

    fn double_quoted(&mut self, s: &str, indent: usize, breaks: bool) {
        self.out.push('"');
        let mut col = self.column();
        let chars: Vec<char> = s.chars().collect();
        let mut prev_space = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                if breaks && !prev_space && col > WIDTH && i != 0 && i + 1 != chars.len() {
                    self.out.push('\n');
                    self.indent(indent);
                    col = indent;
                    if chars.get(i + 1) == Some(&' ') {
                        self.out.push('\\');
                        col += 1;
                    }
                } else {
                    self.out.push(' ');
                    col += 1;
                }
                prev_space = true;
                continue;
            }
            prev_space = false;
            let esc: Option<String> = match c {
                '"' => Some("\\\"".into()),
                '\\' => Some("\\\\".into()),
                '\0' => Some("\\0".into()),
                '\u{7}' => Some("\\a".into()),
                '\u{8}' => Some("\\b".into()),
                '\t' => Some("\\t".into()),
                '\n' => Some("\\n".into()),
                '\u{b}' => Some("\\v".into()),
                '\u{c}' => Some("\\f".into()),
                '\r' => Some("\\r".into()),
                '\u{1b}' => Some("\\e".into()),
                '\u{85}' => Some("\\N".into()),
                '\u{a0}' => Some("\\_".into()),
                '\u{2028}' => Some("\\L".into()),
                '\u{2029}' => Some("\\P".into()),
                '\u{feff}' => Some("\\uFEFF".into()),
                c if !printable(c) => Some(if (c as u32) <= 0xff {
                    format!("\\x{:02X}", c as u32)
                } else if (c as u32) <= 0xffff {
                    format!("\\u{:04X}", c as u32)
                } else {
                    format!("\\U{:08X}", c as u32)
                }),
                _ => None,
            };
            match esc {
                Some(e) => {
                    col += e.len();
                    self.out.push_str(&e);
                }
                None => {
                    self.out.push(c);
                    col += 1;
                }
            }
        }
        self.out.push('"');
    }

    fn literal(&mut self, s: &str, indent: usize) {
        self.out.push('|');
        if s.starts_with(' ') || s.starts_with('\n') {
            self.out.push('2');
        }
        if !s.ends_with('\n') {
            self.out.push('-');
        } else if s.ends_with("\n\n") || s == "\n" {
            self.out.push('+');
        }
        let body = s.strip_suffix('\n').unwrap_or(s);
        for line in body.split('\n') {
            self.out.push('\n');
            if !line.is_empty() {
                self.indent(indent);
                self.out.push_str(line);
            }
        }
    }
}

fn printable(c: char) -> bool {
    matches!(c as u32, 0x09 | 0x0a | 0x0d | 0x20..=0x7e | 0x85 | 0xa0..=0xd7ff | 0xe000..=0xfffd | 0x10000..=0x10ffff)
        && c != '\u{feff}'
}

/// Whether go-yaml v2 may write `s` single-quoted: printable characters only (no tab), and no
/// space next to a line break.
fn single_quote_allowed(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| printable(c) && c != '\t') && !s.contains(" \n") && !s.contains("\n ")
}

/// go-yaml v2 refuses a literal block for text with trailing spaces before a line break, or
/// special characters.
fn block_allowed(s: &str) -> bool {
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !printable(c) {
            return false;
        }
        if c == '\n' && i > 0 && matches!(chars[i - 1], ' ') {
            return false;
        }
        if c == ' ' && chars.get(i + 1) == Some(&'\n') {
            return false;
        }
    }
    // a space at the very start of a line following a break is fine; trailing space at the end
    !s.ends_with(' ')
}

fn number(n: &Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    let Some(f) = n.as_f64() else {
        return n.to_string();
    };
    go_float(f)
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`.
pub(crate) fn go_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf".into() } else { "-.inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let e = format!("{f:e}");
    let Some((mant, exp)) = e.split_once('e') else {
        return e;
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let sign = if neg { "-" } else { "" };
    let nd = digits.len();
    if !(-4..6).contains(&exp) {
        let mut m = digits[..1].to_owned();
        if nd > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let es = if exp < 0 { "-" } else { "+" };
        return format!("{sign}{m}e{es}{:02}", exp.abs());
    }
    if exp >= 0 {
        let point = (exp + 1) as usize;
        if digits.len() <= point {
            format!("{sign}{digits}{}", "0".repeat(point - digits.len()))
        } else {
            format!("{sign}{}.{}", &digits[..point], &digits[point..])
        }
    } else {
        format!("{sign}0.{}{digits}", "0".repeat((-exp - 1) as usize))
    }
}

/// Whether a string may be written plain (go-yaml's analysis plus "would read back as a string").
fn plain_allowed(s: &str) -> bool {
    if s.is_empty() || s.contains('\n') {
        return false;
    }
    let chars: Vec<char> = s.chars().collect();
    let first = chars[0];
    if first == ' ' || chars[chars.len() - 1] == ' ' {
        return false;
    }
    if s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    if "#,[]{}&*!|>'\"%@`".contains(first) {
        return false;
    }
    if matches!(first, '-' | '?' | ':') && chars.get(1).is_none_or(|c| *c == ' ' || *c == '\t') {
        return false;
    }
    for (i, &c) in chars.iter().enumerate() {
        if !printable(c) || c == '\t' || c == '\u{85}' || c == '\u{2028}' || c == '\u{2029}' {
            return false;
        }
        if c == ':' && chars.get(i + 1).is_none_or(|n| *n == ' ') {
            return false;
        }
        if c == '#' && i > 0 && chars[i - 1] == ' ' {
            return false;
        }
    }
    !resolves_to_non_string(s)
}

fn resolves_to_non_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false", "False",
        "FALSE", "on", "On", "ON", "off", "Off", "OFF", "~", "null", "Null", "NULL", ".nan", ".NaN", ".NAN",
        ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", "<<",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    let first = s.chars().next().unwrap_or(' ');
    if !(first.is_ascii_digit() || first == '+' || first == '-' || first == '.') {
        return false;
    }
    let plain: String = s.chars().filter(|c| *c != '_').collect();
    let body = plain.strip_prefix(['+', '-']).unwrap_or(&plain);
    // integers: decimal, 0x, 0o/leading 0 octal, 0b
    if !body.is_empty() && body.chars().all(|c| c.is_ascii_digit()) {
        return true;
    }
    if let Some(h) = body.strip_prefix("0x") {
        if !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()) {
            return true;
        }
    }
    if let Some(b) = body.strip_prefix("0b") {
        if !b.is_empty() && b.chars().all(|c| c == '0' || c == '1') {
            return true;
        }
    }
    if is_float(body) {
        return true;
    }
    if is_base60(s) {
        return true;
    }
    is_timestamp(s)
}

fn is_float(s: &str) -> bool {
    // Go's ParseFloat on a YAML plain scalar starting with a digit, sign or '.'
    let lower = s.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity" | "nan") {
        return true;
    }
    let (mant, exp) = match lower.split_once('e') {
        Some((m, e)) => (m, Some(e)),
        None => (lower.as_str(), None),
    };
    let mut digits = 0;
    let mut dots = 0;
    for c in mant.chars() {
        match c {
            '0'..='9' => digits += 1,
            '.' => dots += 1,
            _ => return false,
        }
    }
    if digits == 0 || dots > 1 {
        return false;
    }
    match exp {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['+', '-']).unwrap_or(e);
            !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
        }
    }
}

fn is_base60(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (int_part, _frac) = match body.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (body, None),
    };
    let mut parts = int_part.split(':');
    let Some(first) = parts.next() else { return false };
    if first.is_empty()
        || !first.starts_with(|c: char| c.is_ascii_digit())
        || !first.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return false;
    }
    let mut n = 0;
    for p in parts {
        n += 1;
        if p.is_empty() || p.len() > 2 || !p.chars().all(|c| c.is_ascii_digit()) {
            return false;
        }
        if p.len() == 2 && p.as_bytes()[0] > b'5' {
            return false;
        }
    }
    n > 0
}

fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let rest = &s[5..];
    let mut it = rest.splitn(2, '-');
    let (Some(m), Some(tail)) = (it.next(), it.next()) else {
        return false;
    };
    if m.is_empty() || m.len() > 2 || !m.chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let day: String = tail.chars().take_while(char::is_ascii_digit).collect();
    if day.is_empty() || day.len() > 2 {
        return false;
    }
    let after = &tail[day.len()..];
    after.is_empty() || after.starts_with(['T', 't', ' '])
}

/// go-yaml v2's key order: runs of digits compare as numbers.
pub(crate) fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let mut digits = false;
    let n = ar.len().min(br.len());
    for i in 0..n {
        if ar[i] == br[i] {
            digits = ar[i].is_ascii_digit();
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            let a_less = if digits { al } else { bl };
            return if a_less { Ordering::Less } else { Ordering::Greater };
        }
        let (mut an, mut bn): (u128, u128) = (0, 0);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an
                .saturating_mul(10)
                .saturating_add(u128::from(ar[ai] as u32 - '0' as u32));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn
                .saturating_mul(10)
                .saturating_add(u128::from(br[bi] as u32 - '0' as u32));
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn style() {
        let v: Value = serde_json::json!({
            "b": ["x", {"k": 1, "j": "yes"}, []],
            "a": {"s": "line1\nline2\n", "e": "", "n": null, "f": 1.5, "t": "1"},
        });
        assert_eq!(
            value_to_yaml(&v),
            "a:\n  e: \"\"\n  f: 1.5\n  \"n\": null\n  s: |\n    line1\n    line2\n  t: \"1\"\nb:\n- x\n- j: \"yes\"\n  k: 1\n- []\n"
        );
        assert_eq!(go_float(1e6), "1e+06");
        assert_eq!(go_float(123456.0), "123456");
        assert_eq!(go_float(0.5), "0.5");
        assert!(natural_cmp("a2", "a10").is_lt());
    }
}
