//! What a watch watches: `gmail:<label>`, `drive:changes` or `calendar:<calendar id>`.

/// A watched resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// A Gmail mailbox, filtered on one label (`INBOX`), via Pub/Sub push.
    Gmail { label: String },
    /// Every change in a Drive, via a `changes.watch` channel.
    DriveChanges,
    /// One calendar's events, via an `events.watch` channel.
    Calendar { calendar_id: String },
}

/// A resource spec that is not one of the three forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("resource {0:?} is not gmail:<label>, drive:changes or calendar:<calendar id>")]
pub struct BadResource(pub String);

impl Resource {
    /// Parses `gmail:INBOX`, `drive:changes`, `calendar:primary`.
    pub fn parse(spec: &str) -> Result<Self, BadResource> {
        let bad = || BadResource(spec.to_owned());
        let (kind, id) = spec.split_once(':').ok_or_else(bad)?;
        if id.is_empty() {
            return Err(bad());
        }
        match kind {
            "gmail" => Ok(Self::Gmail {
                label: id.to_owned(),
            }),
            "drive" if id == "changes" => Ok(Self::DriveChanges),
            "calendar" => Ok(Self::Calendar {
                calendar_id: id.to_owned(),
            }),
            _ => Err(bad()),
        }
    }

    /// From a stored watch's `resource_type` and `resource_id`.
    pub fn of(resource_type: &str, resource_id: &str) -> Result<Self, BadResource> {
        Self::parse(&format!("{resource_type}:{resource_id}"))
    }

    /// `gmail`, `drive` or `calendar` (the watch's `resource_type`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Gmail { .. } => "gmail",
            Self::DriveChanges => "drive",
            Self::Calendar { .. } => "calendar",
        }
    }

    /// The label, `changes` or the calendar id (the watch's `resource_id`).
    pub fn id(&self) -> &str {
        match self {
            Self::Gmail { label } => label,
            Self::DriveChanges => "changes",
            Self::Calendar { calendar_id } => calendar_id,
        }
    }

    /// Whether notifications arrive on a channel (Drive, Calendar) rather than Pub/Sub.
    pub fn uses_channels(&self) -> bool {
        !matches!(self, Self::Gmail { .. })
    }

    /// The webhook provider whose route notifications arrive on, and under which the events of
    /// this resource are queued (so the consumer finds that provider's plugin).
    pub fn webhook_provider(&self) -> &'static str {
        if self.uses_channels() {
            "google-channel"
        } else {
            "google-pubsub"
        }
    }
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind(), self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print_back() {
        for spec in [
            "gmail:INBOX",
            "drive:changes",
            "calendar:primary",
            "calendar:a@b.c",
        ] {
            assert_eq!(Resource::parse(spec).expect(spec).to_string(), spec);
        }
        for bad in ["gmail", "gmail:", "drive:files", "sheets:x", ""] {
            assert!(Resource::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Resource::of("calendar", "team@x").expect("calendar"),
            Resource::Calendar {
                calendar_id: "team@x".into()
            }
        );
        assert_eq!(Resource::DriveChanges.webhook_provider(), "google-channel");
        assert_eq!(
            Resource::parse("gmail:INBOX")
                .expect("gmail")
                .webhook_provider(),
            "google-pubsub"
        );
    }
}
