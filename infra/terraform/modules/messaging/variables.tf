variable "name_prefix" {
  description = "Put before every topic and queue name; the same value as FULFIL_QUEUE_PREFIX (--prefix)."
  type        = string
  default     = ""

  validation {
    condition     = length(var.name_prefix) <= 30 && can(regex("^[A-Za-z0-9_-]*$", var.name_prefix))
    error_message = "name_prefix must be at most 30 characters of A-Z a-z 0-9 - _ (the rule fulfil's --prefix enforces)."
  }
}

variable "fifo" {
  description = "FIFO topics and queues (names end in .fifo); false gives standard ones (FULFIL_STANDARD_QUEUES=true)."
  type        = bool
  default     = true
}

variable "fifo_high_throughput" {
  description = "FIFO high-throughput mode (deduplication and throughput per message group). fulfil setup leaves it off."
  type        = bool
  default     = false
}

variable "max_receive_count" {
  description = "Receives of one message before SQS moves it to the DLQ (FULFIL_MAX_RECEIVE_COUNT)."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be between 1 and 1000."
  }
}

variable "visibility_timeout_seconds" {
  description = "Visibility timeout of both main queues (FULFIL_VISIBILITY_TIMEOUT). With Lambda it must be at least 6 x the function timeout."
  type        = number
  default     = 30

  validation {
    condition     = var.visibility_timeout_seconds >= 1 && var.visibility_timeout_seconds <= 43200
    error_message = "visibility_timeout_seconds must be between 1 and 43200."
  }
}

variable "enable_command_type_filter" {
  description = "Filter the commands subscription on the command_type attribute. SNS then silently DROPS every message whose command_type is missing or not in command_types (see main.tf). Off by default: nothing may be lost."
  type        = bool
  default     = false
}

variable "command_types" {
  description = "The command_type values the filter lets through when enable_command_type_filter is true."
  type        = list(string)
  default     = ["PlaceOrder", "CancelOrder", "Restock"]
}

variable "command_publisher_arns" {
  description = "IAM principals (role or account ARNs) allowed to publish to the commands topic by a topic policy; empty: no topic policy."
  type        = list(string)
  default     = []
}

variable "sqs_managed_sse" {
  description = "Encrypt the queues at rest with SQS-managed keys (SNS can deliver to these; it cannot to queues under the AWS-managed SQS KMS key)."
  type        = bool
  default     = true
}

variable "sns_kms_key_id" {
  description = "KMS key for the topics (null: unencrypted topics). A customer-managed key must let sns.amazonaws.com use it."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
