variable "name_prefix" {
  description = "Also FULFIL_QUEUE_PREFIX: must equal the messaging module's."
  type        = string
}

variable "bootstrap_zip_path" {
  description = "The zip holding the `bootstrap` executable (cargo lambda build --release --bin bootstrap --output-format zip)."
  type        = string
}

variable "architecture" {
  description = "arm64 or x86_64: must match how bootstrap was built."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "memory_mb" {
  type    = number
  default = 256
}

variable "timeout_seconds" {
  description = "Function timeout (FULFIL_LAMBDA_TIMEOUT_SECONDS): at least the worker's retry budget, 8 x (lock_wait_ms + lock_lease_ms) + 2 s; the queues' visibility timeout must be at least 6 x this."
  type        = number
  default     = 60

  validation {
    condition     = var.timeout_seconds >= 1 && var.timeout_seconds <= 900
    error_message = "timeout_seconds must be between 1 and 900."
  }
}

variable "visibility_timeout_seconds" {
  description = "The main queues' visibility timeout (from the messaging module)."
  type        = number
}

variable "worker_maximum_concurrency" {
  description = "Most worker invocations the event source mapping runs at once (2-1000)."
  type        = number
  default     = 5

  validation {
    condition     = var.worker_maximum_concurrency >= 2 && var.worker_maximum_concurrency <= 1000
    error_message = "worker_maximum_concurrency must be between 2 and 1000."
  }
}

variable "projector_maximum_concurrency" {
  description = "Most projector invocations the event source mapping runs at once (2-1000)."
  type        = number
  default     = 2

  validation {
    condition     = var.projector_maximum_concurrency >= 2 && var.projector_maximum_concurrency <= 1000
    error_message = "projector_maximum_concurrency must be between 2 and 1000."
  }
}

variable "worker_reserved_concurrency" {
  description = "Reserved concurrency of the worker function (-1: none)."
  type        = number
  default     = -1
}

variable "projector_reserved_concurrency" {
  description = "Reserved concurrency of the projector function (-1: none)."
  type        = number
  default     = -1
}

variable "function_names" {
  description = "Function name by role (worker, projector); the log groups are /aws/lambda/<name>."
  type        = map(string)
}

variable "log_group_names" {
  type = map(string)
}

variable "role_arns" {
  description = "Execution role ARN by role (worker, projector)."
  type        = map(string)
}

variable "commands_queue_arn" {
  type = string
}

variable "projector_queue_arn" {
  type = string
}

variable "fifo" {
  type = bool
}

variable "max_receive_count" {
  type = number
}

variable "lock_lease_ms" {
  type = number
}

variable "lock_wait_ms" {
  type = number
}

variable "redis_key_prefix" {
  type = string
}

variable "log_filter" {
  type = string
}

variable "extra_environment" {
  type    = map(string)
  default = {}
}

variable "write_database_url_secret_arn" {
  type = string
}

variable "read_database_url_secret_arn" {
  type = string
}

variable "redis_url_secret_arn" {
  type = string
}

variable "subnet_ids" {
  type = list(string)
}

variable "security_group_ids" {
  type = list(string)
}

variable "tags" {
  type    = map(string)
  default = {}
}
