//! Container ids: the same rule as runc (`^[\w+-\.]+$`), no `.`/`..`, at most 1024 bytes.

#[derive(Debug, thiserror::Error)]
pub enum IdError {
    #[error("container id is empty")]
    Empty,
    #[error("invalid container id {0:?}: only letters, digits, '_', '+', '-' and '.' are allowed")]
    Format(String),
    #[error("invalid container id: longer than 1024 bytes")]
    TooLong,
}

pub fn validate(id: &str) -> Result<(), IdError> {
    if id.is_empty() {
        return Err(IdError::Empty);
    }
    if id.len() > 1024 {
        return Err(IdError::TooLong);
    }
    let ok = id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'));
    if !ok || id == "." || id == ".." {
        return Err(IdError::Format(id.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn rejects_traversal_and_separators() {
        for bad in ["", "../x", "/", "a/b", "..", ".", "a b", "x\n"] {
            assert!(super::validate(bad).is_err(), "{bad:?}");
        }
        for good in ["a", "abc-123_x.y+z", &"a".repeat(1024)] {
            assert!(super::validate(good).is_ok(), "{good:?}");
        }
        assert!(super::validate(&"a".repeat(1025)).is_err());
    }
}
