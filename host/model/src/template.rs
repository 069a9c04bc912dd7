//! Parameter strings split once into literal text and `{{ expression }}`
//! parts, so running a step never scans a string again.

use std::fmt;

use serde::Serialize;

/// One piece of a [`Template`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Part {
    /// Text copied as it is.
    Literal(String),
    /// The source between `{{` and `}}`, as written (spaces included).
    Expr(String),
}

/// A parameter string with at least one `{{ }}` expression.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Template {
    parts: Vec<Part>,
}

/// Why a string is not a well-formed template.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A `{{` without its `}}`.
    #[error("the `{{{{` at byte {0} is never closed; end the expression with `}}}}`")]
    Unclosed(usize),
    /// `{{ }}` with nothing inside.
    #[error("the `{{{{ }}}}` at byte {0} is empty; write an expression inside it")]
    Empty(usize),
}

impl Template {
    /// Splits `text`. Returns `Ok(None)` when it holds no expression, so the
    /// string can be kept as a plain literal.
    pub fn parse(text: &str) -> Result<Option<Template>, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut offset = 0;
        while let Some(open) = rest.find("{{") {
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or(TemplateError::Unclosed(offset + open))?;
            let expr = &after[..close];
            if expr.trim().is_empty() {
                return Err(TemplateError::Empty(offset + open));
            }
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            parts.push(Part::Expr(expr.to_owned()));
            let consumed = open + 2 + close + 2;
            offset += consumed;
            rest = &rest[consumed..];
        }
        if parts.is_empty() {
            return Ok(None);
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        Ok(Some(Template { parts }))
    }

    /// Its parts, in order.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// The expression, when the whole string is one `{{ }}`: its result keeps
    /// its JSON type instead of being turned into text, as in n8n.
    pub fn single_expression(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Expr(source)] => Some(source),
            _ => None,
        }
    }
}

impl fmt::Display for Template {
    /// Writes the template back as it was written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &self.parts {
            match part {
                Part::Literal(text) => f.write_str(text)?,
                Part::Expr(source) => write!(f, "{{{{{source}}}}}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_without_braces_is_no_template() {
        assert_eq!(Template::parse("hello }} world").unwrap(), None);
    }

    #[test]
    fn literals_and_expressions_alternate() {
        let t = Template::parse("hello {{ $json.name }}!").unwrap().unwrap();
        assert_eq!(
            t.parts(),
            [
                Part::Literal("hello ".into()),
                Part::Expr(" $json.name ".into()),
                Part::Literal("!".into())
            ]
        );
        assert_eq!(t.single_expression(), None);
        let t = Template::parse("{{ $json.n }}").unwrap().unwrap();
        assert_eq!(t.single_expression(), Some(" $json.n "));
    }

    #[test]
    fn unclosed_and_empty_expressions_are_errors() {
        assert_eq!(
            Template::parse("a {{ b").unwrap_err(),
            TemplateError::Unclosed(2)
        );
        assert_eq!(
            Template::parse("ok {{x}} {{  }}").unwrap_err(),
            TemplateError::Empty(9)
        );
    }
}
