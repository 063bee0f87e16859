//! The three commands of contract v1, as typed values.
//!
//! A value of these types has passed [`Envelope::parse`](super::Envelope::parse) (or was built
//! by our own code), so the rest of the worker never re-checks ids, bounds or line counts.

use serde::{Deserialize, Serialize};

/// What a publisher asks for; the SNS `command_type` attribute is its [`Command::type_name`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type")]
pub enum Command {
    PlaceOrder(PlaceOrder),
    CancelOrder(CancelOrder),
    Restock(Restock),
}

/// All lines or none: the order is confirmed only if every line can be served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaceOrder {
    pub order_id: String,
    pub user_id: String,
    /// Product ids are distinct, so a line is the whole demand for its product.
    pub lines: Vec<OrderLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderLine {
    pub product_id: String,
    pub quantity: u32,
}

/// May arrive before its PlaceOrder; the worker remembers it then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelOrder {
    pub order_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Also creates the product when it is unknown, which is why it may carry a `name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restock {
    pub product_id: String,
    pub quantity: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Command {
    /// The contract's `type` value, also sent as the SNS `command_type` message attribute.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::PlaceOrder(_) => "PlaceOrder",
            Self::CancelOrder(_) => "CancelOrder",
            Self::Restock(_) => "Restock",
        }
    }

    /// The FIFO `MessageGroupId`: commands about one order (or one product's stock) stay in
    /// order relative to each other.
    pub fn message_group_id(&self) -> &str {
        match self {
            Self::PlaceOrder(order) => &order.order_id,
            Self::CancelOrder(cancel) => &cancel.order_id,
            Self::Restock(restock) => &restock.product_id,
        }
    }

    /// The products whose stock the command touches, e.g. to know which locks to take.
    /// Empty for CancelOrder: its products are those of the order it cancels.
    pub fn product_ids(&self) -> Vec<&str> {
        match self {
            Self::PlaceOrder(order) => order.lines.iter().map(|l| l.product_id.as_str()).collect(),
            Self::CancelOrder(_) => Vec::new(),
            Self::Restock(restock) => vec![restock.product_id.as_str()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place_order() -> Command {
        Command::PlaceOrder(PlaceOrder {
            order_id: "o-1".into(),
            user_id: "u-1".into(),
            lines: vec![line("p-1", 2), line("p-2", 1)],
        })
    }

    fn line(product_id: &str, quantity: u32) -> OrderLine {
        OrderLine {
            product_id: product_id.into(),
            quantity,
        }
    }

    fn cancel_order() -> Command {
        Command::CancelOrder(CancelOrder {
            order_id: "o-1".into(),
            reason: None,
        })
    }

    fn restock() -> Command {
        Command::Restock(Restock {
            product_id: "p-9".into(),
            quantity: 5,
            name: Some("Bread".into()),
        })
    }

    #[test]
    fn each_command_names_its_contract_type() {
        let names = [place_order(), cancel_order(), restock()].map(|c| c.type_name());
        assert_eq!(names, ["PlaceOrder", "CancelOrder", "Restock"]);
    }

    #[test]
    fn order_commands_group_by_order_and_restock_by_product() {
        assert_eq!(place_order().message_group_id(), "o-1");
        assert_eq!(cancel_order().message_group_id(), "o-1");
        assert_eq!(restock().message_group_id(), "p-9");
    }

    #[test]
    fn product_ids_are_those_the_command_names() {
        assert_eq!(place_order().product_ids(), ["p-1", "p-2"]);
        assert!(cancel_order().product_ids().is_empty());
        assert_eq!(restock().product_ids(), ["p-9"]);
    }

    #[test]
    fn command_serialises_with_its_type_tag() {
        let json = serde_json::to_value(cancel_order()).ok();
        assert_eq!(
            json,
            Some(serde_json::json!({"type": "CancelOrder", "order_id": "o-1"}))
        );
    }
}
