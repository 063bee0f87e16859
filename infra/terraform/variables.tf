# ---------------------------------------------------------------- where and what
variable "region" {
  description = "AWS region of everything (AWS_REGION for every role)."
  type        = string
  default     = "us-east-1"
}

variable "name_prefix" {
  description = "Put before every name; it is also FULFIL_QUEUE_PREFIX, exactly as `fulfil setup --prefix` uses it (e.g. \"prod-\")."
  type        = string
  default     = ""

  validation {
    condition     = length(var.name_prefix) <= 30 && can(regex("^[A-Za-z0-9_-]*$", var.name_prefix))
    error_message = "name_prefix must be at most 30 characters of A-Z a-z 0-9 - _ (the rule fulfil's --prefix enforces)."
  }
}

variable "compute" {
  description = "Where the queue consumers (worker, projector) run: \"ecs\" (services, worker autoscaled on backlog) or \"lambda\" (functions with SQS event source mappings). Relay and API run on ECS either way."
  type        = string
  default     = "ecs"

  validation {
    condition     = contains(["ecs", "lambda"], var.compute)
    error_message = "compute must be \"ecs\" or \"lambda\"."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = { project = "fulfil" }
}

# ---------------------------------------------------------------- messaging
variable "fifo" {
  description = "FIFO topics and queues (true, the default, as `fulfil setup`) or standard ones."
  type        = bool
  default     = true
}

variable "fifo_high_throughput" {
  description = "FIFO high-throughput mode on both queues."
  type        = bool
  default     = false
}

variable "max_receive_count" {
  description = "Receives before a message moves to its DLQ (FULFIL_MAX_RECEIVE_COUNT). null: 5 on ECS (outages do not spend receives there); on Lambda enough to ride out lambda_outage_minutes_to_ride_out, plus one (README, Sizing)."
  type        = number
  default     = null
}

variable "visibility_timeout_seconds" {
  description = "Visibility timeout of both queues (FULFIL_VISIBILITY_TIMEOUT). null: 30 s on ECS, 6 x lambda_timeout_seconds on Lambda (the least AWS allows)."
  type        = number
  default     = null
}

variable "enable_command_type_filter" {
  description = "Filter the commands subscription on command_type. Off by default: with it, SNS silently drops commands whose command_type is missing or unknown (see modules/messaging)."
  type        = bool
  default     = false
}

variable "command_publisher_arns" {
  description = "Principals allowed by topic policy to publish commands (empty: no topic policy)."
  type        = list(string)
  default     = []
}

# ---------------------------------------------------------------- network
variable "vpc_id" {
  description = "The VPC of the tasks and functions; a security group for them is made here."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (with a NAT gateway or VPC endpoints for SQS, SNS, Secrets Manager, ECR, CloudWatch Logs) for tasks and functions."
  type        = list(string)
}

variable "security_group_ids" {
  description = "More security groups for tasks and functions (e.g. one the database and Redis admit)."
  type        = list(string)
  default     = []
}

variable "assign_public_ip" {
  description = "Give Fargate tasks public IPs (only in public subnets without NAT)."
  type        = bool
  default     = false
}

variable "api_ingress_security_group_ids" {
  description = "Security groups (e.g. the load balancer's) allowed to reach the API port."
  type        = list(string)
  default     = []
}

# ---------------------------------------------------------------- secrets
variable "write_database_url_secret_arn" {
  description = "Secrets Manager secret whose string is the write database URL (postgres://user:pass@host:5432/db)."
  type        = string
}

variable "read_database_url_secret_arn" {
  description = "Secrets Manager secret whose string is the read database URL."
  type        = string
}

variable "api_read_database_url_secret_arn" {
  description = "Secrets Manager secret whose string is the read database URL the query API uses: a login that is a member of fulfil_api_reader (created by `fulfil setup`), which may only read. Unset: the API uses read_database_url_secret_arn, which may write."
  type        = string
  default     = null
}

variable "redis_url_secret_arn" {
  description = "Secrets Manager secret whose string is the Redis URL (redis:// or rediss://)."
  type        = string
}

variable "secrets_kms_key_arn" {
  description = "Customer-managed KMS key of those secrets (null: the AWS-managed key)."
  type        = string
  default     = null
}

# ---------------------------------------------------------------- ECS
variable "image" {
  description = "The fulfil image built from the repository's Dockerfile, e.g. <account>.dkr.ecr.<region>.amazonaws.com/fulfil@sha256:..."
  type        = string
  default     = "fulfil:latest"
}

variable "ecr_repository_arn" {
  description = "The image's ECR repository, to scope the execution role's pull rights (null: any)."
  type        = string
  default     = null
}

variable "cpu_architecture" {
  description = "X86_64 or ARM64 for the Fargate tasks: must match the image."
  type        = string
  default     = "X86_64"
}

variable "sizes" {
  description = "Fargate cpu units / memory MiB / desired count per role; the worker's count starts at worker_min_count and then follows its autoscaling."
  type = map(object({
    cpu           = number
    memory        = number
    desired_count = number
  }))
  default = {
    worker    = { cpu = 512, memory = 1024, desired_count = 2 }
    relay     = { cpu = 256, memory = 512, desired_count = 1 }
    projector = { cpu = 256, memory = 512, desired_count = 1 }
    api       = { cpu = 256, memory = 512, desired_count = 2 }
    migrate   = { cpu = 256, memory = 512, desired_count = 0 }
  }

  validation {
    condition     = alltrue([for r in ["worker", "relay", "projector", "api", "migrate"] : contains(keys(var.sizes), r)])
    error_message = "sizes needs an entry for each of worker, relay, projector, api and migrate."
  }
}

variable "worker_min_count" {
  description = "Fewest worker tasks (ECS)."
  type        = number
  default     = 1
}

variable "worker_max_count" {
  description = "Most worker tasks (ECS). Each holds worker_concurrency + 2 write-database connections."
  type        = number
  default     = 10
}

variable "worker_backlog_per_task_target" {
  description = "Visible commands per running worker task that target tracking holds (ECS). About worker_concurrency x 10 x (seconds of backlog you accept / batch seconds)."
  type        = number
  default     = 200
}

variable "api_port" {
  description = "The query API's port."
  type        = number
  default     = 8080
}

variable "api_target_group_arn" {
  description = "An ALB target group (target type ip) for the API (null: no load balancer)."
  type        = string
  default     = null
}

# ---------------------------------------------------------------- worker settings
variable "worker_concurrency" {
  description = "FULFIL_WORKER_CONCURRENCY: concurrent long polls (batches of up to 10) per worker task."
  type        = number
  default     = 4
}

variable "worker_max_in_flight" {
  description = "FULFIL_MAX_IN_FLIGHT: most messages one worker holds; at least worker_concurrency x 10."
  type        = number
  default     = 100
}

variable "lock_lease_ms" {
  description = "FULFIL_LOCK_LEASE_MS: Redis lock lease (a watchdog extends it while a batch runs)."
  type        = number
  default     = 5000
}

variable "lock_wait_ms" {
  description = "FULFIL_LOCK_WAIT_MS: wait for contended products before leaving the batch for redelivery."
  type        = number
  default     = 2000
}

variable "redis_key_prefix" {
  description = "FULFIL_REDIS_KEY_PREFIX."
  type        = string
  default     = "fulfil:"
}

variable "log_filter" {
  description = "RUST_LOG of every role."
  type        = string
  default     = "info"
}

variable "extra_environment" {
  description = "More environment variables for every role."
  type        = map(string)
  default     = {}
}

variable "log_retention_days" {
  type    = number
  default = 30
}

# ---------------------------------------------------------------- Lambda
variable "lambda_zip_path" {
  description = "Path of the `bootstrap` zip (e.g. target/lambda/bootstrap/bootstrap.zip from cargo lambda); required when compute = \"lambda\"."
  type        = string
  default     = null
}

variable "lambda_architecture" {
  description = "arm64 or x86_64: how bootstrap was built."
  type        = string
  default     = "arm64"
}

variable "lambda_memory_mb" {
  type    = number
  default = 256
}

variable "lambda_timeout_seconds" {
  description = "Function timeout (also FULFIL_LAMBDA_TIMEOUT_SECONDS): at least the worker's retry budget, 8 x (lock_wait_ms + lock_lease_ms) + 2 s (58 s with the defaults; the plan and the function refuse less); visibility_timeout_seconds must be at least 6 x this."
  type        = number
  default     = 60
}

variable "lambda_outage_minutes_to_ride_out" {
  description = "Lambda: the write-database or Redis outage a valid command survives without reaching the DLQ; sizes the default max_receive_count (README, Sizing)."
  type        = number
  default     = 15
}

variable "lambda_worker_maximum_concurrency" {
  description = "Most worker invocations at once (event source mapping, 2-1000); each holds a small DB pool."
  type        = number
  default     = 5
}

variable "lambda_projector_maximum_concurrency" {
  type    = number
  default = 2
}

variable "lambda_worker_reserved_concurrency" {
  description = "-1: none. If set, keep it >= lambda_worker_maximum_concurrency."
  type        = number
  default     = -1
}

variable "lambda_projector_reserved_concurrency" {
  type    = number
  default = -1
}

# ---------------------------------------------------------------- alarms
variable "alarm_actions" {
  description = "ARNs notified when an alarm fires or clears (e.g. an SNS topic)."
  type        = list(string)
  default     = []
}

variable "event_lag_threshold_seconds" {
  description = "Alarm when the oldest event waiting for the projector is older than this."
  type        = number
  default     = 300
}

variable "command_lag_threshold_seconds" {
  description = "Alarm when the oldest command waiting for a worker is older than this."
  type        = number
  default     = 300
}
