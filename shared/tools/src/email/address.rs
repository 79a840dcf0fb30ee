//! Recipient addresses as the email tools accept them: a plain `local@domain` that both
//! services take and that cannot smuggle a header (no CR, LF, angle brackets, commas or
//! spaces). Display names travel in their own fields.

/// Why an address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AddressError {
    #[error("{0:?} is not an email address (local@domain)")]
    Shape(String),
    #[error("{0:?} is longer than 254 characters")]
    TooLong(String),
    #[error("{0:?} has a character an address cannot have")]
    Character(String),
    #[error("{0:?} has a domain without a dot")]
    Domain(String),
}

/// Checks `address` (RFC 5321 limits: 64 for the local part, 254 in all).
pub(crate) fn check(address: &str) -> Result<(), AddressError> {
    let owned = || address.to_owned();
    if address.len() > 254 {
        return Err(AddressError::TooLong(owned()));
    }
    if address
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || "<>,;:\"()[]\\".contains(c))
    {
        return Err(AddressError::Character(owned()));
    }
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Err(AddressError::Shape(owned()));
    };
    if local.is_empty() || local.len() > 64 || local.contains('@') || domain.is_empty() {
        return Err(AddressError::Shape(owned()));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err(AddressError::Domain(owned()));
    }
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    if !labels.iter().all(label_ok) || local.starts_with('.') || local.ends_with('.') {
        return Err(AddressError::Shape(owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_addresses_pass_and_header_smuggling_does_not() {
        for ok in [
            "a@example.com",
            "first.last+tag@mail.example.co.uk",
            "x@xn--bcher-kva.de",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        let refused = [
            ("a@example.com\r\nBcc: b@example.com", "character"),
            ("Name <a@example.com>", "character"),
            ("a@example.com,b@example.com", "character"),
            ("a example@example.com", "character"),
            ("example.com", "shape"),
            ("@example.com", "shape"),
            ("a@", "shape"),
            ("a@localhost", "domain"),
            ("a@-bad.com", "shape"),
            (".a@example.com", "shape"),
        ];
        for (address, why) in refused {
            let e = check(address).expect_err(address);
            let kind = match e {
                AddressError::Shape(_) => "shape",
                AddressError::TooLong(_) => "long",
                AddressError::Character(_) => "character",
                AddressError::Domain(_) => "domain",
            };
            assert_eq!(kind, why, "{address}");
        }
        let long = format!("{}@{}.com", "a".repeat(64), "b".repeat(190));
        assert!(matches!(check(&long), Err(AddressError::TooLong(_))));
    }
}
