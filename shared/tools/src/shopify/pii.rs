//! Customer PII in Shopify answers: which fields are personal data, by category, and their
//! redaction unless the instance allows the category (`allow_customer_pii`: `true`, or a
//! comma-separated list of categories).

use serde_json::Value;

/// What replaces a redacted value.
pub const REDACTED: &str = "[redacted]";

/// A kind of customer data an instance may let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    Email,
    Phone,
    Name,
    Address,
}

impl Category {
    const ALL: [Category; 4] = [Self::Email, Self::Phone, Self::Name, Self::Address];

    fn parse(name: &str) -> Option<Self> {
        match name {
            "email" => Some(Self::Email),
            "phone" => Some(Self::Phone),
            "name" => Some(Self::Name),
            "address" => Some(Self::Address),
            _ => None,
        }
    }
}

/// The personal fields of customer, order and address objects (GraphQL field names), with
/// their category. Order `name` (#1001) is not personal; a customer's names are.
const FIELDS: &[(&str, Category)] = &[
    ("email", Category::Email),
    ("contactEmail", Category::Email),
    ("phone", Category::Phone),
    ("firstName", Category::Name),
    ("lastName", Category::Name),
    ("displayName", Category::Name),
    ("shippingAddress", Category::Address),
    ("billingAddress", Category::Address),
    ("defaultAddress", Category::Address),
    ("addresses", Category::Address),
];

/// Why `allow_customer_pii` cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "allow_customer_pii: unknown category {0:?} (true, or a list of email, phone, name, address)"
)]
pub struct UnknownCategory(pub String);

/// The categories an instance lets through.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Allowed(Vec<Category>);

impl Allowed {
    /// From the instance's `allow_customer_pii` (absent or `false`: nothing).
    pub fn from_config(value: Option<&str>) -> Result<Self, UnknownCategory> {
        match value.map(str::trim) {
            None | Some("") | Some("false") => Ok(Self::default()),
            Some("true") => Ok(Self(Category::ALL.to_vec())),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(|c| Category::parse(c).ok_or_else(|| UnknownCategory(c.to_owned())))
                .collect::<Result<Vec<_>, _>>()
                .map(Self),
        }
    }

    /// Replaces every personal field of a category not allowed, at any depth, by [`REDACTED`].
    pub fn redact(&self, value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, field) in map.iter_mut() {
                    let category = FIELDS.iter().find(|(k, _)| k == key).map(|(_, c)| *c);
                    match category {
                        Some(c) if !self.0.contains(&c) => {
                            if !field.is_null() {
                                *field = Value::String(REDACTED.into());
                            }
                        }
                        _ => self.redact(field),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact(v)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order() -> Value {
        json!({"id": "gid://shopify/Order/1", "name": "#1001", "email": "ann@example.com",
               "phone": "+15550001", "shippingAddress": {"address1": "1 Main St"},
               "customer": {"displayName": "Ann Lee", "firstName": "Ann", "email": "ann@example.com",
                            "defaultAddress": null}})
    }

    #[test]
    fn redacts_every_category_by_default_at_any_depth() {
        let mut o = order();
        Allowed::from_config(None)
            .expect("test value")
            .redact(&mut o);
        assert_eq!(o["name"], "#1001");
        assert_eq!(o["email"], REDACTED);
        assert_eq!(o["phone"], REDACTED);
        assert_eq!(o["shippingAddress"], REDACTED);
        assert_eq!(o["customer"]["displayName"], REDACTED);
        assert_eq!(o["customer"]["email"], REDACTED);
        assert_eq!(o["customer"]["defaultAddress"], Value::Null);
    }

    #[test]
    fn lets_through_the_listed_categories_or_all() {
        let mut o = order();
        Allowed::from_config(Some("email, address"))
            .expect("test value")
            .redact(&mut o);
        assert_eq!(o["email"], "ann@example.com");
        assert_eq!(o["shippingAddress"]["address1"], "1 Main St");
        assert_eq!(o["phone"], REDACTED);
        assert_eq!(o["customer"]["firstName"], REDACTED);
        let mut o = order();
        Allowed::from_config(Some("true"))
            .expect("test value")
            .redact(&mut o);
        assert_eq!(o, order());
        assert_eq!(
            Allowed::from_config(Some("email,ssn")),
            Err(UnknownCategory("ssn".into()))
        );
    }
}
