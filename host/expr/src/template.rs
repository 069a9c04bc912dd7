//! Splitting a parameter string into literal text and `{{ }}` expressions.

use crate::ExprError;

/// A parameter value split into literal text and `{{ expression }}` parts.
///
/// Parse once per workflow version and evaluate many times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// One piece of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text copied to the output as it is.
    Literal(String),
    /// JavaScript between `{{` and `}}`.
    Expression(Expression),
}

/// The source of one `{{ }}` expression and where it starts in the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expression {
    /// The JavaScript between the braces, trimmed.
    pub source: String,
    /// 1-based line of the expression's first character in the template.
    pub line: u32,
    /// 1-based column of the expression's first character in the template.
    pub column: u32,
}

impl Template {
    /// Splits `text` into literals and expressions.
    ///
    /// An expression ends at the first `}}` that is outside a string literal
    /// and outside braces the expression opened, so `{{ {a: {b: 1}}.a }}`
    /// is one expression.
    pub fn parse(text: &str) -> Result<Template, ExprError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        let mut offset = 0;
        while let Some(open) = rest.find("{{") {
            literal.push_str(&rest[..open]);
            let body_start = offset + open + 2;
            let body = &text[body_start..];
            let Some(len) = expression_len(body) else {
                let (line, column) = line_column(text, offset + open);
                return Err(ExprError::Unclosed { line, column });
            };
            let raw = &body[..len];
            let lead = raw.len() - raw.trim_start().len();
            let (line, column) = line_column(text, body_start + lead);
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            parts.push(Part::Expression(Expression {
                source: raw.trim().to_owned(),
                line,
                column,
            }));
            offset = body_start + len + 2;
            rest = &text[offset..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Template { parts })
    }

    /// The parts in order.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// True when the template has no expression, so evaluating it needs no engine.
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }

    /// The expression when the whole template is exactly one `{{ }}`:
    /// its value is kept as JSON instead of being turned into a string.
    pub fn single_expression(&self) -> Option<&Expression> {
        match self.parts.as_slice() {
            [Part::Expression(e)] => Some(e),
            _ => None,
        }
    }
}

/// Length of the expression body up to (not including) its closing `}}`.
fn expression_len(body: &str) -> Option<usize> {
    let bytes = body.as_bytes();
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if let Some(q) = quote {
            if b == b'\\' {
                i += 1;
            } else if b == q {
                quote = None;
            }
        } else {
            match b {
                b'\'' | b'"' | b'`' => quote = Some(b),
                b'{' => depth += 1,
                b'}' if depth == 0 && bytes.get(i + 1) == Some(&b'}') => return Some(i),
                b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        i += 1;
    }
    None
}

pub(crate) fn line_column(text: &str, byte: usize) -> (u32, u32) {
    let before = &text[..byte];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_literals_and_expressions() {
        let t = Template::parse("hello {{ $json.name }}!").unwrap();
        assert_eq!(t.parts().len(), 3);
        assert!(t.single_expression().is_none());
        let Part::Expression(e) = &t.parts()[1] else {
            panic!("expected an expression")
        };
        assert_eq!(e.source, "$json.name");
        assert_eq!((e.line, e.column), (1, 10));
    }

    #[test]
    fn object_literal_braces_do_not_close_the_expression() {
        let t = Template::parse("{{ {a: {b: 1}}.a }}").unwrap();
        assert_eq!(t.single_expression().unwrap().source, "{a: {b: 1}}.a");
    }

    #[test]
    fn braces_in_strings_do_not_count() {
        let t = Template::parse("{{ '}}' + \"{\" }}").unwrap();
        assert_eq!(t.single_expression().unwrap().source, "'}}' + \"{\"");
    }

    #[test]
    fn unclosed_expression_reports_its_position() {
        let err = Template::parse("a\nb {{ $json").unwrap_err();
        assert!(
            matches!(err, ExprError::Unclosed { line: 2, column: 3 }),
            "{err}"
        );
    }
}
