variable "name_prefix" {
  description = "Put before every name; also FULFIL_QUEUE_PREFIX, so it must equal the messaging module's."
  type        = string
}

variable "region" {
  type = string
}

variable "run_consumers" {
  description = "Run worker and projector as ECS services (compute = \"ecs\"); relay and api always run."
  type        = bool
}

variable "image" {
  description = "The fulfil container image (the repository's Dockerfile), ideally by digest."
  type        = string
}

variable "cpu_architecture" {
  description = "X86_64 or ARM64: must match the image."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "sizes" {
  description = "Fargate cpu units, memory MiB and desired task count per role (worker's count is its autoscaling minimum)."
  type = map(object({
    cpu           = number
    memory        = number
    desired_count = number
  }))
}

variable "worker_min_count" {
  type = number
}

variable "worker_max_count" {
  type = number
}

variable "worker_backlog_per_task_target" {
  description = "Visible command messages per running worker task that target tracking holds."
  type        = number
}

variable "commands_queue_name" {
  type = string
}

variable "events_topic_arn" {
  type = string
}

variable "fifo" {
  type = bool
}

variable "max_receive_count" {
  type = number
}

variable "visibility_timeout_seconds" {
  type = number
}

variable "worker_concurrency" {
  type = number
}

variable "worker_max_in_flight" {
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
  description = "RUST_LOG for every role."
  type        = string
}

variable "extra_environment" {
  description = "More environment variables for every role (they win over the defaults)."
  type        = map(string)
  default     = {}
}

variable "write_database_url_secret_arn" {
  type = string
}

variable "read_database_url_secret_arn" {
  type = string
}

variable "api_read_url_secret_arn" {
  description = "The read database URL of the query API (a read-only login, or the projector's)."
  type        = string
}

variable "redis_url_secret_arn" {
  type = string
}

variable "task_role_arns" {
  description = "Task role ARN by role (worker, relay, projector, api, migrate)."
  type        = map(string)
}

variable "execution_role_arn" {
  type = string
}

variable "log_group_names" {
  description = "CloudWatch log group by role (worker, relay, projector, api, migrate)."
  type        = map(string)
}

variable "subnet_ids" {
  type = list(string)
}

variable "security_group_ids" {
  type = list(string)
}

variable "assign_public_ip" {
  type    = bool
  default = false
}

variable "ops_port" {
  description = "Port of /healthz, /readyz and /metrics in worker, relay and projector."
  type        = number
  default     = 9464
}

variable "api_port" {
  type    = number
  default = 8080
}

variable "api_target_group_arn" {
  description = "An ALB target group (type ip) for the API; null: no load balancer."
  type        = string
  default     = null
}

variable "tags" {
  type    = map(string)
  default = {}
}
