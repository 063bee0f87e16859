variable "name_prefix" {
  type = string
}

variable "commands_queue_name" {
  type = string
}

variable "commands_dlq_name" {
  type = string
}

variable "projector_queue_name" {
  type = string
}

variable "projector_dlq_name" {
  type = string
}

variable "max_receive_count" {
  description = "Only for the alarm text."
  type        = number
}

variable "worker_log_group_name" {
  description = "Where the worker logs (the ECS or the Lambda log group)."
  type        = string
}

variable "lambda_function_names" {
  description = "Function name by role when compute = \"lambda\"; empty on ECS."
  type        = map(string)
  default     = {}
}

variable "event_lag_threshold_seconds" {
  type    = number
  default = 300
}

variable "command_lag_threshold_seconds" {
  type    = number
  default = 300
}

variable "worker_error_threshold" {
  description = "ERROR lines per 5 minutes tolerated (a dependency outage logs some before the worker holds)."
  type        = number
  default     = 10
}

variable "metric_namespace" {
  type    = string
  default = "fulfil"
}

variable "alarm_actions" {
  description = "ARNs notified on ALARM and OK (e.g. an SNS topic for the on-call)."
  type        = list(string)
  default     = []
}

variable "tags" {
  type    = map(string)
  default = {}
}
