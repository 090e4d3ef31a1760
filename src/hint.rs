//! "Did you mean ...?" for near-miss names (modules, keys, fields), shared by the Piston
//! parser and `pivot check`. Owns only the distance rule.

/// The name in `known` closest to `name` when it is the same ignoring case, `-`, `_` and
/// spaces, or at most `max_edits` edits away (Levenshtein). Long inputs get no hint.
pub fn did_you_mean<'a>(name: &str, known: &[&'a str], max_edits: usize) -> Option<&'a str> {
    if name.len() > 64 {
        return None;
    }
    let squash = |s: &str| s.to_ascii_lowercase().replace(['-', '_', ' '], "");
    let wanted = squash(name);
    known
        .iter()
        .map(|k| (edit_distance(&wanted, &squash(k)), *k))
        .filter(|(d, _)| *d <= max_edits)
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn near_misses_get_the_closest_name() {
        let known = ["module", "data", "children"];
        assert_eq!(did_you_mean("modul", &known, 2), Some("module"));
        assert_eq!(did_you_mean("Child-ren", &known, 0), Some("children"));
        assert_eq!(did_you_mean("dta", &known, 1), Some("data"));
        assert_eq!(did_you_mean("flow", &known, 2), None);
        assert_eq!(did_you_mean(&"x".repeat(65), &known, 100), None);
    }
}
