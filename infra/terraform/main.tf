# fulfil on AWS. Messaging (topics, queues, DLQs, subscriptions) always; the queue consumers
# (worker, projector) on ECS or Lambda as var.compute says; relay and API on ECS; one IAM
# role per role; alarms on DLQs, lag and worker errors. infra/DEPLOYING.md walks through it.

provider "aws" {
  region = var.region

  default_tags {
    tags = var.tags
  }
}

locals {
  on_lambda = var.compute == "lambda"

  # The query API's read database URL: a read-only login when one is given.
  api_read_url_secret_arn = coalesce(var.api_read_database_url_secret_arn, var.read_database_url_secret_arn)

  ecs_roles    = ["worker", "relay", "projector", "api", "migrate"]
  lambda_roles = ["worker", "projector"]

  lambda_function_names = { for r in local.lambda_roles : r => "${var.name_prefix}fulfil-${r}" }

  # On Lambda the least visibility timeout AWS allows for an SQS mapping.
  visibility_timeout_seconds = coalesce(var.visibility_timeout_seconds, local.on_lambda ? 6 * var.lambda_timeout_seconds : 30)

  # Lambda cannot stop receiving during an outage: each invocation waits it out for up to
  # its timeout less the 2 s kept to report, then fails its records, which come back one
  # visibility timeout after they were received. Riding out an outage of X s takes
  # 1 + ceil((X - (timeout - 2)) / visibility) receives (README, Sizing).
  lambda_receives_for_outage = 1 + ceil(max(0, var.lambda_outage_minutes_to_ride_out * 60 - (var.lambda_timeout_seconds - 2)) / local.visibility_timeout_seconds)

  # ECS holds through outages without spending receives; on Lambda one more than the outage
  # takes, for a receive lost otherwise (a throttled or crashed invocation).
  max_receive_count = coalesce(var.max_receive_count, local.on_lambda ? local.lambda_receives_for_outage + 1 : 5)
}

module "messaging" {
  source = "./modules/messaging"

  name_prefix                = var.name_prefix
  fifo                       = var.fifo
  fifo_high_throughput       = var.fifo_high_throughput
  max_receive_count          = local.max_receive_count
  visibility_timeout_seconds = local.visibility_timeout_seconds
  enable_command_type_filter = var.enable_command_type_filter
  command_publisher_arns     = var.command_publisher_arns
}

# ---------------------------------------------------------------- logs
resource "aws_cloudwatch_log_group" "ecs" {
  for_each = toset(local.ecs_roles)

  name              = "/ecs/${var.name_prefix}fulfil/${each.key}"
  retention_in_days = var.log_retention_days
}

resource "aws_cloudwatch_log_group" "lambda" {
  for_each = local.on_lambda ? local.lambda_function_names : {}

  name              = "/aws/lambda/${each.value}"
  retention_in_days = var.log_retention_days
}

# ---------------------------------------------------------------- network
# The tasks' and functions' own group: all egress (SQS, SNS, Secrets Manager, the database,
# Redis), and the API port from the given load balancer groups. Let the database's and
# Redis's security groups admit this one (output task_security_group_id).
resource "aws_security_group" "tasks" {
  name_prefix = "${var.name_prefix}fulfil-tasks-"
  description = "fulfil tasks and functions"
  vpc_id      = var.vpc_id

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_egress_rule" "tasks_all" {
  security_group_id = aws_security_group.tasks.id
  description       = "AWS APIs, PostgreSQL, Redis"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "api" {
  for_each = toset(var.api_ingress_security_group_ids)

  security_group_id            = aws_security_group.tasks.id
  description                  = "query API from the load balancer"
  ip_protocol                  = "tcp"
  from_port                    = var.api_port
  to_port                      = var.api_port
  referenced_security_group_id = each.value
}

# ---------------------------------------------------------------- IAM
module "iam" {
  source = "./modules/iam"

  name_prefix         = var.name_prefix
  compute             = var.compute
  commands_topic_arn  = module.messaging.commands_topic_arn
  events_topic_arn    = module.messaging.events_topic_arn
  commands_queue_arn  = module.messaging.commands_queue_arn
  projector_queue_arn = module.messaging.projector_queue_arn
  commands_dlq_arn    = module.messaging.commands_dlq_arn
  projector_dlq_arn   = module.messaging.projector_dlq_arn
  all_queue_arns = [
    module.messaging.commands_queue_arn,
    module.messaging.commands_dlq_arn,
    module.messaging.projector_queue_arn,
    module.messaging.projector_dlq_arn,
  ]

  write_database_url_secret_arn = var.write_database_url_secret_arn
  read_database_url_secret_arn  = var.read_database_url_secret_arn
  api_read_url_secret_arn       = local.api_read_url_secret_arn
  redis_url_secret_arn          = var.redis_url_secret_arn
  secrets_kms_key_arn           = var.secrets_kms_key_arn
  ecr_repository_arn            = var.ecr_repository_arn

  ecs_log_group_arns    = { for k, g in aws_cloudwatch_log_group.ecs : k => g.arn }
  lambda_log_group_arns = { for k, g in aws_cloudwatch_log_group.lambda : k => g.arn }
}

# ---------------------------------------------------------------- compute
module "ecs" {
  source = "./modules/ecs"

  name_prefix      = var.name_prefix
  region           = var.region
  run_consumers    = !local.on_lambda
  image            = var.image
  cpu_architecture = var.cpu_architecture
  sizes            = var.sizes

  worker_min_count               = var.worker_min_count
  worker_max_count               = var.worker_max_count
  worker_backlog_per_task_target = var.worker_backlog_per_task_target
  commands_queue_name            = module.messaging.commands_queue_name
  events_topic_arn               = module.messaging.events_topic_arn

  fifo                       = var.fifo
  max_receive_count          = local.max_receive_count
  visibility_timeout_seconds = local.visibility_timeout_seconds
  worker_concurrency         = var.worker_concurrency
  worker_max_in_flight       = var.worker_max_in_flight
  lock_lease_ms              = var.lock_lease_ms
  lock_wait_ms               = var.lock_wait_ms
  redis_key_prefix           = var.redis_key_prefix
  log_filter                 = var.log_filter
  extra_environment          = var.extra_environment

  write_database_url_secret_arn = var.write_database_url_secret_arn
  read_database_url_secret_arn  = var.read_database_url_secret_arn
  api_read_url_secret_arn       = local.api_read_url_secret_arn
  redis_url_secret_arn          = var.redis_url_secret_arn

  task_role_arns     = module.iam.task_role_arns
  execution_role_arn = module.iam.execution_role_arn
  log_group_names    = { for k, g in aws_cloudwatch_log_group.ecs : k => g.name }

  subnet_ids           = var.subnet_ids
  security_group_ids   = concat([aws_security_group.tasks.id], var.security_group_ids)
  assign_public_ip     = var.assign_public_ip
  api_port             = var.api_port
  api_target_group_arn = var.api_target_group_arn
}

module "lambda" {
  source = "./modules/lambda"
  count  = local.on_lambda ? 1 : 0

  name_prefix        = var.name_prefix
  bootstrap_zip_path = var.lambda_zip_path
  architecture       = var.lambda_architecture
  memory_mb          = var.lambda_memory_mb
  timeout_seconds    = var.lambda_timeout_seconds

  visibility_timeout_seconds     = module.messaging.visibility_timeout_seconds
  worker_maximum_concurrency     = var.lambda_worker_maximum_concurrency
  projector_maximum_concurrency  = var.lambda_projector_maximum_concurrency
  worker_reserved_concurrency    = var.lambda_worker_reserved_concurrency
  projector_reserved_concurrency = var.lambda_projector_reserved_concurrency

  function_names      = local.lambda_function_names
  log_group_names     = { for k, g in aws_cloudwatch_log_group.lambda : k => g.name }
  role_arns           = { for r in local.lambda_roles : r => module.iam.task_role_arns[r] }
  commands_queue_arn  = module.messaging.commands_queue_arn
  projector_queue_arn = module.messaging.projector_queue_arn

  fifo              = var.fifo
  max_receive_count = local.max_receive_count
  lock_lease_ms     = var.lock_lease_ms
  lock_wait_ms      = var.lock_wait_ms
  redis_key_prefix  = var.redis_key_prefix
  log_filter        = var.log_filter
  extra_environment = var.extra_environment

  write_database_url_secret_arn = var.write_database_url_secret_arn
  read_database_url_secret_arn  = var.read_database_url_secret_arn
  redis_url_secret_arn          = var.redis_url_secret_arn

  subnet_ids         = var.subnet_ids
  security_group_ids = concat([aws_security_group.tasks.id], var.security_group_ids)

  # The role's policies must exist before the mapping first polls with it.
  depends_on = [module.iam]
}

# ---------------------------------------------------------------- alarms
module "alarms" {
  source = "./modules/alarms"

  name_prefix          = var.name_prefix
  commands_queue_name  = module.messaging.commands_queue_name
  commands_dlq_name    = module.messaging.commands_dlq_name
  projector_queue_name = module.messaging.projector_queue_name
  projector_dlq_name   = module.messaging.projector_dlq_name
  max_receive_count    = local.max_receive_count

  worker_log_group_name = local.on_lambda ? aws_cloudwatch_log_group.lambda["worker"].name : aws_cloudwatch_log_group.ecs["worker"].name
  lambda_function_names = local.on_lambda ? module.lambda[0].function_names : {}

  event_lag_threshold_seconds   = var.event_lag_threshold_seconds
  command_lag_threshold_seconds = var.command_lag_threshold_seconds
  alarm_actions                 = var.alarm_actions
}

# ---------------------------------------------------------------- checks across variables
# (variable validations may not refer to other variables before Terraform 1.9)
resource "terraform_data" "settings_check" {
  lifecycle {
    precondition {
      condition     = var.worker_max_in_flight >= var.worker_concurrency * 10
      error_message = "worker_max_in_flight (${var.worker_max_in_flight}) must be at least worker_concurrency x 10 (${var.worker_concurrency * 10}): each long poll takes up to 10 messages."
    }
    precondition {
      condition     = var.compute != "lambda" || var.lambda_zip_path != null
      error_message = "compute = \"lambda\" needs lambda_zip_path: the zip holding the bootstrap executable."
    }
    precondition {
      condition     = var.worker_min_count <= var.worker_max_count
      error_message = "worker_min_count must not exceed worker_max_count."
    }
    precondition {
      condition     = var.lock_lease_ms < local.visibility_timeout_seconds * 1000
      error_message = "lock_lease_ms must be shorter than the visibility timeout, so a dead worker's locks expire before its messages come back."
    }
    precondition {
      condition     = !local.on_lambda || local.max_receive_count >= local.lambda_receives_for_outage
      error_message = "max_receive_count (${local.max_receive_count}) rides out less than lambda_outage_minutes_to_ride_out (${var.lambda_outage_minutes_to_ride_out}) on Lambda, which needs ${local.lambda_receives_for_outage} receives with a ${var.lambda_timeout_seconds} s timeout and a ${local.visibility_timeout_seconds} s visibility timeout: raise max_receive_count (or leave it null) or lower the minutes."
    }
  }
}
