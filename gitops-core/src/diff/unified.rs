//! Unified diff of two texts, line by line (Myers' O(ND) algorithm).
//!
//! Written here rather than taken from the `similar` crate: the diff engine needs one line diff
//! of small YAML documents, which is about a hundred lines of code.

/// One line of an edit script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edit {
    Same(usize, usize),
    Del(usize),
    Ins(usize),
}

/// Cap on the Myers trace (entries); beyond it the changed middle is shown as replaced.
const MAX_TRACE: usize = 8 * 1024 * 1024;

/// The shortest edit script turning `a` into `b`.
fn myers(a: &[&str], b: &[&str]) -> Vec<Edit> {
    // Common prefix and suffix are cheap and shrink the problem.
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (ma, mb) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    let mut edits: Vec<Edit> = (0..prefix).map(|i| Edit::Same(i, i)).collect();
    let n = ma.len() as isize;
    let m = mb.len() as isize;
    let max = (n + m) as usize;
    let offset = max as isize + 1;
    let mut v = vec![0isize; 2 * max + 3];
    let mut trace: Vec<Vec<isize>> = Vec::new();
    let idx = |k: isize| (k + offset) as usize;
    'outer: for d in 0..=max as isize {
        if trace.len().saturating_mul(v.len()) > MAX_TRACE {
            // Too many differences to keep the trace: replace the whole middle.
            edits.extend((0..ma.len()).map(|i| Edit::Del(prefix + i)));
            edits.extend((0..mb.len()).map(|i| Edit::Ins(prefix + i)));
            let (sa, sb) = (a.len() - suffix, b.len() - suffix);
            edits.extend((0..suffix).map(|i| Edit::Same(sa + i, sb + i)));
            return edits;
        }
        trace.push(v.clone());
        let mut k = -d;
        while k <= d {
            let mut x = if k == -d || (k != d && v[idx(k - 1)] < v[idx(k + 1)]) {
                v[idx(k + 1)]
            } else {
                v[idx(k - 1)] + 1
            };
            let mut y = x - k;
            while x < n && y < m && ma[x as usize] == mb[y as usize] {
                x += 1;
                y += 1;
            }
            v[idx(k)] = x;
            if x >= n && y >= m {
                break 'outer;
            }
            k += 2;
        }
    }
    // Backtrack.
    let mut middle = Vec::new();
    let (mut x, mut y) = (n, m);
    for (d, vd) in trace.iter().enumerate().rev() {
        let d = d as isize;
        let k = x - y;
        let prev_k = if k == -d || (k != d && vd[idx(k - 1)] < vd[idx(k + 1)]) {
            k + 1
        } else {
            k - 1
        };
        let prev_x = vd[idx(prev_k)];
        let prev_y = prev_x - prev_k;
        while x > prev_x && y > prev_y {
            x -= 1;
            y -= 1;
            middle.push(Edit::Same(x as usize + prefix, y as usize + prefix));
        }
        if d > 0 {
            if x == prev_x {
                middle.push(Edit::Ins(prev_y as usize + prefix));
            } else {
                middle.push(Edit::Del(prev_x as usize + prefix));
            }
        }
        x = prev_x;
        y = prev_y;
    }
    middle.reverse();
    edits.extend(middle);
    let (sa, sb) = (a.len() - suffix, b.len() - suffix);
    edits.extend((0..suffix).map(|i| Edit::Same(sa + i, sb + i)));
    edits
}

fn range(start: usize, len: usize) -> String {
    match len {
        0 => format!("{start},0"),
        1 => format!("{}", start + 1),
        _ => format!("{},{len}", start + 1),
    }
}

/// A unified diff of `old` and `new` with `context` lines around changes; empty when equal.
pub(crate) fn unified_text(old: &str, new: &str, old_name: &str, new_name: &str, context: usize) -> String {
    if old == new {
        return String::new();
    }
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let edits = myers(&a, &b);
    let mut out = format!("--- {old_name}\n+++ {new_name}\n");
    let changed: Vec<usize> = edits
        .iter()
        .enumerate()
        .filter(|(_, e)| !matches!(e, Edit::Same(..)))
        .map(|(i, _)| i)
        .collect();
    let mut i = 0;
    while i < changed.len() {
        let start = changed[i].saturating_sub(context);
        let mut end = changed[i];
        while i < changed.len() && changed[i] <= end + 2 * context + 1 {
            end = changed[i];
            i += 1;
        }
        let end = (end + context + 1).min(edits.len());
        let hunk = &edits[start..end];
        let (mut a_start, mut b_start) = (None, None);
        let (mut a_len, mut b_len) = (0, 0);
        for e in hunk {
            match *e {
                Edit::Same(x, y) => {
                    a_start.get_or_insert(x);
                    b_start.get_or_insert(y);
                    a_len += 1;
                    b_len += 1;
                }
                Edit::Del(x) => {
                    a_start.get_or_insert(x);
                    a_len += 1;
                }
                Edit::Ins(y) => {
                    b_start.get_or_insert(y);
                    b_len += 1;
                }
            }
        }
        // An empty side starts right before the hunk's position in that file.
        let a_pos = a_start.unwrap_or_else(|| position_before(&edits[..start], true));
        let b_pos = b_start.unwrap_or_else(|| position_before(&edits[..start], false));
        let a_range = range(a_pos, a_len);
        let b_range = range(b_pos, b_len);
        out.push_str(&format!("@@ -{a_range} +{b_range} @@\n"));
        for e in hunk {
            match *e {
                Edit::Same(x, _) => {
                    out.push(' ');
                    out.push_str(a.get(x).copied().unwrap_or_default());
                }
                Edit::Del(x) => {
                    out.push('-');
                    out.push_str(a.get(x).copied().unwrap_or_default());
                }
                Edit::Ins(y) => {
                    out.push('+');
                    out.push_str(b.get(y).copied().unwrap_or_default());
                }
            }
            out.push('\n');
        }
    }
    out
}

/// Number of lines of one side consumed by `edits`.
fn position_before(edits: &[Edit], old_side: bool) -> usize {
    edits
        .iter()
        .filter(|e| match e {
            Edit::Same(..) => true,
            Edit::Del(_) => old_side,
            Edit::Ins(_) => !old_side,
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_change_has_one_hunk() {
        let old = "a\nb\nc\nd\ne\nf\ng\n";
        let new = "a\nb\nc\nD\ne\nf\ng\nh\n";
        let d = unified_text(old, new, "old", "new", 1);
        assert_eq!(
            d,
            "--- old\n+++ new\n@@ -3,3 +3,3 @@\n c\n-d\n+D\n e\n@@ -7 +7,2 @@\n g\n+h\n"
        );
    }

    #[test]
    fn edits_are_minimal() {
        let a: Vec<&str> = "x a b c y".split(' ').collect();
        let b: Vec<&str> = "a b z c".split(' ').collect();
        let e = myers(&a, &b);
        assert_eq!(e.iter().filter(|e| !matches!(e, Edit::Same(..))).count(), 3);
        assert_eq!(
            unified_text("", "a\n", "o", "n", 3),
            "--- o\n+++ n\n@@ -0,0 +1 @@\n+a\n"
        );
        assert_eq!(
            unified_text("a\n", "", "o", "n", 3),
            "--- o\n+++ n\n@@ -1 +0,0 @@\n-a\n"
        );
        assert_eq!(unified_text("a\n", "a\n", "o", "n", 3), "");
    }
}
