//! What a decision says happened, and the one way deciding can fail.
//!
//! The codes here are stored in the inbox and published in events, so their spelling is part
//! of what operators and the read side see: change it only with a migration in mind.
//!
//! An [`Outcome`] is the domain's answer to a command (confirmed, rejected, ...), not what
//! becomes of the message that carried it: the worker records it (`worker::Recorded`), and
//! the consumer deletes, retries or dead-letters the message (`queue::consumer::Disposition`).
//! A message can carry a command decided long ago, or none at all.

/// Why a PlaceOrder was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    OutOfStock,
    UnknownProduct,
}

impl RejectReason {
    pub fn code(&self) -> &'static str {
        match self {
            Self::OutOfStock => "OUT_OF_STOCK",
            Self::UnknownProduct => "UNKNOWN_PRODUCT",
        }
    }
}

/// Why a decided command changed nothing; it still goes in the inbox so it is never re-decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoEffect {
    DuplicateOrder,
    AlreadyCancelled,
    OrderRejected,
    CancelAlreadyPending,
}

impl NoEffect {
    pub fn code(&self) -> &'static str {
        match self {
            Self::DuplicateOrder => "DUPLICATE_ORDER",
            Self::AlreadyCancelled => "ALREADY_CANCELLED",
            Self::OrderRejected => "ORDER_REJECTED",
            Self::CancelAlreadyPending => "CANCEL_ALREADY_PENDING",
        }
    }
}

/// The result of deciding one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Restocked {
        product_id: String,
        quantity: u32,
        created: bool,
    },
    Confirmed {
        order_id: String,
    },
    /// `product_id` is the first offending line's product, so the reason can be acted on.
    Rejected {
        order_id: String,
        reason: RejectReason,
        product_id: String,
    },
    /// A confirmed order cancelled; its stock given back.
    Cancelled {
        order_id: String,
    },
    /// PlaceOrder after its CancelOrder: recorded as cancelled, no stock taken.
    CancelledBeforePlace {
        order_id: String,
    },
    /// CancelOrder before its PlaceOrder.
    CancelRemembered {
        order_id: String,
    },
    /// Decided (goes in the inbox) but changes nothing.
    NoEffect {
        reason: NoEffect,
    },
    /// The command_id was already decided with the same fingerprint: nothing happens.
    Duplicate,
    /// The command_id was already decided with another fingerprint: CONFLICTING_DUPLICATE.
    Conflict,
}

impl Outcome {
    /// The outcome as stored and published.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Restocked { .. } => "RESTOCKED",
            Self::Confirmed { .. } => "CONFIRMED",
            Self::Rejected { .. } => "REJECTED",
            Self::Cancelled { .. } => "CANCELLED",
            Self::CancelledBeforePlace { .. } => "CANCELLED_BEFORE_PLACE",
            Self::CancelRemembered { .. } => "CANCEL_REMEMBERED",
            Self::NoEffect { reason } => reason.code(),
            Self::Duplicate => "DUPLICATE",
            Self::Conflict => "CONFLICTING_DUPLICATE",
        }
    }

    /// The reason an operator sees next to a command that did not simply succeed.
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            Self::Rejected { reason, .. } => Some(reason.code()),
            Self::NoEffect { reason } => Some(reason.code()),
            Self::Conflict => Some("CONFLICTING_DUPLICATE"),
            _ => None,
        }
    }

    /// Whether the command now has an inbox row; a Duplicate already has one, and a Conflict
    /// must not overwrite the original's.
    pub fn is_recorded(&self) -> bool {
        !matches!(self, Self::Duplicate | Self::Conflict)
    }
}

/// Deciding failed because the caller loaded too little; nothing was changed, so the batch can
/// be re-loaded and decided again.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DomainError {
    #[error("order {order_id:?} is being cancelled but product {product_id:?} was not loaded")]
    ProductNotLoaded {
        order_id: String,
        product_id: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(reason: RejectReason) -> Outcome {
        let (order_id, product_id) = ("o-1".to_owned(), "p-1".to_owned());
        Outcome::Rejected {
            order_id,
            reason,
            product_id,
        }
    }

    #[test]
    fn given_each_outcome_when_coded_then_it_has_its_stored_code_and_reason() {
        let order_id = || "o-1".to_owned();
        let restocked = Outcome::Restocked {
            product_id: "p-1".to_owned(),
            quantity: 1,
            created: false,
        };
        let cases = [
            (restocked, "RESTOCKED", None),
            (
                Outcome::Confirmed {
                    order_id: order_id(),
                },
                "CONFIRMED",
                None,
            ),
            (
                rejected(RejectReason::OutOfStock),
                "REJECTED",
                Some("OUT_OF_STOCK"),
            ),
            (
                rejected(RejectReason::UnknownProduct),
                "REJECTED",
                Some("UNKNOWN_PRODUCT"),
            ),
            (
                Outcome::Cancelled {
                    order_id: order_id(),
                },
                "CANCELLED",
                None,
            ),
            (
                Outcome::CancelledBeforePlace {
                    order_id: order_id(),
                },
                "CANCELLED_BEFORE_PLACE",
                None,
            ),
            (
                Outcome::CancelRemembered {
                    order_id: order_id(),
                },
                "CANCEL_REMEMBERED",
                None,
            ),
            (Outcome::Duplicate, "DUPLICATE", None),
            (
                Outcome::Conflict,
                "CONFLICTING_DUPLICATE",
                Some("CONFLICTING_DUPLICATE"),
            ),
        ];
        for (outcome, code, reason) in cases {
            assert_eq!(
                (outcome.code(), outcome.reason()),
                (code, reason),
                "{outcome:?}"
            );
        }
    }

    #[test]
    fn given_each_no_effect_when_coded_then_code_and_reason_are_its_own() {
        let reasons = [
            (NoEffect::DuplicateOrder, "DUPLICATE_ORDER"),
            (NoEffect::AlreadyCancelled, "ALREADY_CANCELLED"),
            (NoEffect::OrderRejected, "ORDER_REJECTED"),
            (NoEffect::CancelAlreadyPending, "CANCEL_ALREADY_PENDING"),
        ];
        for (reason, code) in reasons {
            let outcome = Outcome::NoEffect { reason };
            assert_eq!((outcome.code(), outcome.reason()), (code, Some(code)));
        }
    }

    #[test]
    fn given_duplicate_or_conflict_then_only_they_are_not_recorded() {
        assert!(!Outcome::Duplicate.is_recorded());
        assert!(!Outcome::Conflict.is_recorded());
        let no_effect = Outcome::NoEffect {
            reason: NoEffect::DuplicateOrder,
        };
        assert!(no_effect.is_recorded());
        assert!(rejected(RejectReason::OutOfStock).is_recorded());
    }

    #[test]
    fn given_a_missing_product_when_shown_then_the_error_names_order_and_product() {
        let error = DomainError::ProductNotLoaded {
            order_id: "o-1".to_owned(),
            product_id: "p-1".to_owned(),
        };
        let expected = r#"order "o-1" is being cancelled but product "p-1" was not loaded"#;
        assert_eq!(error.to_string(), expected);
    }
}
