//! Limits on what boa's parser and compiler take, checked before they see
//! an expression: its size and how deep its syntax tree can nest. Both
//! recurse once per level (brackets, prefix operators, and chains of binary
//! operators, which become left-deep trees), and running out of stack
//! aborts the process rather than failing.
//!
//! The scan is a lexer's rough cut, erring on the deep side: text in
//! strings, comments and regular expressions is skipped, and a `/` that
//! could start either a regular expression or a division counts what
//! follows it as opening but never as closing.

use crate::ExprError;

/// Refuses `source` when it is longer than `max_bytes` or nests deeper than
/// `max_nesting`.
pub(crate) fn check(source: &str, max_bytes: usize, max_nesting: usize) -> Result<(), ExprError> {
    let quoted = || {
        let mut end = source.len().min(200);
        while !source.is_char_boundary(end) {
            end -= 1;
        }
        if end < source.len() {
            format!("{}…", &source[..end])
        } else {
            source.to_owned()
        }
    };
    if source.len() > max_bytes {
        return Err(ExprError::TooComplex {
            expr: quoted(),
            what: "its source (in bytes)",
            limit: max_bytes,
        });
    }
    if nesting(source) > max_nesting {
        return Err(ExprError::TooComplex {
            expr: quoted(),
            what: "its nesting (open brackets plus operators chained at one level)",
            limit: max_nesting,
        });
    }
    Ok(())
}

/// One open bracket: its kind and the operators chained inside it so far.
struct Level {
    close: u8,
    operators: usize,
    /// A template literal's `${`: its `}` goes back to the template text.
    template: bool,
}

/// The deepest nesting `source` can reach (an upper bound).
pub(crate) fn nesting(source: &str) -> usize {
    let b = source.as_bytes();
    let mut levels: Vec<Level> = vec![Level {
        close: 0,
        operators: 0,
        template: false,
    }];
    let mut deepest = 0usize;
    // Prefix operators in a row (`!!!x`, `typeof typeof x`, `- - x`).
    let mut prefix_run = 0usize;
    // Whether the last token ends an operand (so `/` divides, `+` is binary).
    let mut after_operand = false;
    // Closers that do not count, after an ambiguous `/`, until the line ends.
    let mut uncertain_until_newline = false;
    let mut i = 0;
    let measure = |levels: &[Level], prefix_run: usize, deepest: &mut usize| {
        let depth = levels.len() + levels.iter().map(|l| l.operators).sum::<usize>() + prefix_run;
        *deepest = (*deepest).max(depth);
    };
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' => {
                uncertain_until_newline = false;
                i += 1;
            }
            c if c.is_ascii_whitespace() => i += 1,
            b'\'' | b'"' => {
                i = skip_string(b, i);
                after_operand = true;
                prefix_run = 0;
            }
            b'`' => {
                i = template_text(b, i + 1, &mut levels);
                after_operand = true;
                prefix_run = 0;
                measure(&levels, prefix_run, &mut deepest);
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            b'/' if !after_operand => {
                i = skip_regex(b, i);
                after_operand = true;
                prefix_run = 0;
            }
            b'/' => {
                // Division, or a regular expression after `)` or `}` (`if (x)
                // /re/`): counted as code, but its closers do not close.
                if prev_significant(b, i).is_some_and(|p| p == b')' || p == b'}') {
                    uncertain_until_newline = true;
                }
                chain(&mut levels);
                after_operand = false;
                i += 1;
            }
            b'(' | b'[' | b'{' => {
                levels.push(Level {
                    close: match c {
                        b'(' => b')',
                        b'[' => b']',
                        _ => b'}',
                    },
                    operators: 0,
                    template: false,
                });
                after_operand = false;
                prefix_run = 0;
                measure(&levels, prefix_run, &mut deepest);
                i += 1;
            }
            b')' | b']' | b'}' => {
                i += 1;
                if uncertain_until_newline {
                    after_operand = true;
                    continue;
                }
                if levels.len() > 1 && levels.last().is_some_and(|l| l.close == c) {
                    let level = levels.pop().expect("more than one level");
                    if level.template {
                        i = template_text(b, i, &mut levels);
                    }
                }
                after_operand = true;
                prefix_run = 0;
            }
            b';' => {
                if let Some(level) = levels.last_mut() {
                    level.operators = 0;
                }
                after_operand = false;
                prefix_run = 0;
                i += 1;
            }
            b',' => {
                // Elements and properties are siblings; a comma in
                // parentheses may be the comma operator, which chains.
                if let Some(level) = levels.last_mut() {
                    if level.close == b')' || level.close == 0 {
                        level.operators += 1;
                    } else {
                        level.operators = 0;
                    }
                }
                after_operand = false;
                prefix_run = 0;
                measure(&levels, prefix_run, &mut deepest);
                i += 1;
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80 => {
                let start = i;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || b[i] == b'_'
                        || b[i] == b'$'
                        || b[i] >= 0x80)
                {
                    i += 1;
                }
                let word = &source[start..i];
                if matches!(
                    word,
                    "typeof" | "void" | "delete" | "await" | "new" | "yield" | "return" | "throw"
                ) {
                    prefix_run += 1;
                    after_operand = false;
                    measure(&levels, prefix_run, &mut deepest);
                } else if matches!(word, "in" | "instanceof" | "of") {
                    chain(&mut levels);
                    after_operand = false;
                    measure(&levels, prefix_run, &mut deepest);
                } else {
                    after_operand = !matches!(word, "case" | "do" | "else");
                    prefix_run = 0;
                }
            }
            _ => {
                // Punctuation: a run of operator characters is one operator.
                let start = i;
                while i < b.len() && b"+-*%&|^!~<>=?:.".contains(&b[i]) {
                    i += 1;
                }
                if i == start {
                    i += 1;
                    continue;
                }
                let op = &b[start..i];
                if op == b"." || op == b"?." {
                    after_operand = false;
                    continue;
                }
                if op == b"++" || op == b"--" {
                    continue;
                }
                if after_operand && op != b"!" && op != b"~" {
                    chain(&mut levels);
                    // `a + -b`: the unary part after the binary one.
                    prefix_run = op
                        .iter()
                        .skip(1)
                        .filter(|c| matches!(c, b'!' | b'~' | b'-' | b'+'))
                        .count();
                } else {
                    prefix_run += op.len();
                }
                after_operand = false;
                measure(&levels, prefix_run, &mut deepest);
            }
        }
    }
    deepest
}

fn chain(levels: &mut [Level]) {
    if let Some(level) = levels.last_mut() {
        level.operators += 1;
    }
}

/// The last byte before `i` that is not whitespace.
fn prev_significant(b: &[u8], i: usize) -> Option<u8> {
    b[..i]
        .iter()
        .rev()
        .copied()
        .find(|c| !c.is_ascii_whitespace())
}

/// The index after the string literal starting at `i`.
fn skip_string(b: &[u8], i: usize) -> usize {
    let quote = b[i];
    let mut j = i + 1;
    while j < b.len() && b[j] != quote && b[j] != b'\n' {
        j += if b[j] == b'\\' { 2 } else { 1 };
    }
    j + 1
}

/// The index after the regular expression literal starting at `i`.
fn skip_regex(b: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    let mut class = false;
    while j < b.len() && b[j] != b'\n' {
        match b[j] {
            b'\\' => j += 1,
            b'[' => class = true,
            b']' => class = false,
            b'/' if !class => break,
            _ => {}
        }
        j += 1;
    }
    j + 1
}

/// Skips template text from `i` up to its closing backtick (returning the
/// index after it) or its next `${` (pushing a level whose `}` returns here).
fn template_text(b: &[u8], mut i: usize, levels: &mut Vec<Level>) -> usize {
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'`' => return i + 1,
            b'$' if b.get(i + 1) == Some(&b'{') => {
                levels.push(Level {
                    close: b'}',
                    operators: 0,
                    template: true,
                });
                return i + 2;
            }
            _ => i += 1,
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::nesting;

    #[test]
    fn everyday_expressions_nest_shallowly() {
        for (src, most) in [
            ("$json.name", 2),
            ("$json.a + ' ' + $json.b", 4),
            (
                "$input.all().map(i => i.json.x).filter(Boolean).join(', ')",
                4,
            ),
            ("`${$json.first} ${$json.last}`", 3),
            ("{ a: 1, b: [1, 2, 3], c: { d: 'x' } }", 5),
        ] {
            let n = nesting(src);
            assert!(n <= most, "{src}: {n}");
        }
    }

    #[test]
    fn brackets_operators_and_prefixes_count() {
        assert!(nesting(&"(".repeat(500)) >= 500);
        assert!(nesting(&format!("{}1", "!".repeat(500))) >= 500);
        assert!(nesting(&format!("{}1", "typeof ".repeat(500))) >= 500);
        assert!(nesting(&format!("1{}", "+1".repeat(500))) >= 500);
        assert!(nesting(&format!("1{}", ",1".repeat(500))) >= 500);
        assert!(nesting(&"`${".repeat(500)) >= 500);
    }

    #[test]
    fn closers_hidden_in_strings_comments_or_regexes_do_not_close() {
        let hide = |closer: &str| format!("{}1", format!("({closer} ").repeat(500));
        for closer in ["')'", "\")\"", "/*)*/", "/[)]/", "`)`"] {
            assert!(nesting(&hide(closer)) >= 500, "{closer}");
        }
        // After `)`, a `/` may start either; its closers never close.
        let ambiguous = format!("{}1", "(() => { if (1) /[)]/; ".repeat(300));
        assert!(nesting(&ambiguous) >= 300);
    }
}
