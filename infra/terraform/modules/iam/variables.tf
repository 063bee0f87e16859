variable "name_prefix" {
  description = "Put before every role name."
  type        = string
}

variable "compute" {
  description = "Where worker and projector run: \"ecs\" or \"lambda\" (decides who may assume their roles)."
  type        = string

  validation {
    condition     = contains(["ecs", "lambda"], var.compute)
    error_message = "compute must be \"ecs\" or \"lambda\"."
  }
}

variable "commands_topic_arn" {
  type = string
}

variable "events_topic_arn" {
  type = string
}

variable "commands_queue_arn" {
  type = string
}

variable "projector_queue_arn" {
  type = string
}

variable "commands_dlq_arn" {
  description = "The commands DLQ: the worker moves a message that fails its last delivery there itself."
  type        = string
}

variable "projector_dlq_arn" {
  description = "The projector DLQ: the projector's consumer looks it up at start."
  type        = string
}

variable "all_queue_arns" {
  description = "Both queues and both DLQs: what `fulfil setup` looks up."
  type        = list(string)
}

variable "write_database_url_secret_arn" {
  type = string
}

variable "read_database_url_secret_arn" {
  type = string
}

variable "api_read_url_secret_arn" {
  description = "The query API's read database URL secret (a read-only login, or the projector's)."
  type        = string
}

variable "redis_url_secret_arn" {
  type = string
}

variable "secrets_kms_key_arn" {
  description = "The customer-managed KMS key of the secrets, if any (null: the AWS-managed key)."
  type        = string
  default     = null
}

variable "ecr_repository_arn" {
  description = "The ECR repository of the image (null: any repository)."
  type        = string
  default     = null
}

variable "ecs_log_group_arns" {
  description = "ECS log groups by role; the execution role writes to these."
  type        = map(string)
}

variable "lambda_log_group_arns" {
  description = "Lambda log groups by role (worker, projector); used when compute = \"lambda\"."
  type        = map(string)
  default     = {}
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary for every role, where the account requires one."
  type        = string
  default     = null
}

variable "tags" {
  type    = map(string)
  default = {}
}
