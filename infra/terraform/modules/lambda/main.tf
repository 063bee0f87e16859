# The Lambda alternative for the two queue consumers: worker and projector as functions from
# one `bootstrap` zip (cargo lambda build --release --bin bootstrap --output-format zip), fed
# by SQS event source mappings that report partial batch failures, so one poisoned record
# (and on FIFO the records after it) is retried and dead-lettered alone.
#
# The function tells the two apart by FULFIL_LAMBDA_HANDLER. Lambda has no secret injection,
# so the database and Redis URLs arrive as Secrets Manager ARNs (FULFIL_*_URL_SECRET_ARN)
# that the bootstrap reads once per container, at start.

locals {
  functions = {
    worker = {
      queue_arn       = var.commands_queue_arn
      max_concurrency = var.worker_maximum_concurrency
      reserved        = var.worker_reserved_concurrency
      env = {
        FULFIL_WRITE_DATABASE_URL_SECRET_ARN = var.write_database_url_secret_arn
        FULFIL_REDIS_URL_SECRET_ARN          = var.redis_url_secret_arn
        FULFIL_LOCK_LEASE_MS                 = tostring(var.lock_lease_ms)
        FULFIL_LOCK_WAIT_MS                  = tostring(var.lock_wait_ms)
        FULFIL_LAMBDA_TIMEOUT_SECONDS        = tostring(var.timeout_seconds)
        FULFIL_REDIS_KEY_PREFIX              = var.redis_key_prefix
      }
    }
    projector = {
      queue_arn       = var.projector_queue_arn
      max_concurrency = var.projector_maximum_concurrency
      reserved        = var.projector_reserved_concurrency
      env = {
        FULFIL_READ_DATABASE_URL_SECRET_ARN = var.read_database_url_secret_arn
      }
    }
  }

  # The worker's worst-case retry budget (src/lambda/budget.rs): 8 attempts (its
  # max_attempts), each waiting a lock round and running a transaction up to the lease, plus
  # 2 s kept to report. The function refuses to start under a shorter timeout; so does the plan.
  worker_attempts       = 8
  worker_budget_seconds = ceil(local.worker_attempts * (var.lock_wait_ms + var.lock_lease_ms) / 1000) + 2

  common_env = {
    FULFIL_QUEUE_PREFIX       = var.name_prefix
    FULFIL_STANDARD_QUEUES    = var.fifo ? "false" : "true"
    FULFIL_MAX_RECEIVE_COUNT  = tostring(var.max_receive_count)
    FULFIL_VISIBILITY_TIMEOUT = tostring(var.visibility_timeout_seconds)
    FULFIL_LOG_FORMAT         = "json"
    RUST_LOG                  = var.log_filter
  }
}

resource "aws_lambda_function" "consumer" {
  for_each = local.functions

  function_name    = var.function_names[each.key]
  description      = "fulfil ${each.key}: the same batch path as `fulfil ${each.key}`, for SQS events"
  role             = var.role_arns[each.key]
  filename         = var.bootstrap_zip_path
  source_code_hash = filebase64sha256(var.bootstrap_zip_path)
  handler          = "bootstrap"
  runtime          = "provided.al2023"
  architectures    = [var.architecture]
  memory_size      = var.memory_mb
  timeout          = var.timeout_seconds

  # -1: unreserved. A reserved figure caps every container of the function at once (and
  # so its database connections); keep it >= the mapping's maximum concurrency.
  reserved_concurrent_executions = each.value.reserved

  environment {
    variables = merge(local.common_env, each.value.env, { FULFIL_LAMBDA_HANDLER = each.key }, var.extra_environment)
  }

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = var.security_group_ids
  }

  logging_config {
    log_format = "Text"
    log_group  = var.log_group_names[each.key]
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.timeout_seconds >= local.worker_budget_seconds
      error_message = "The function timeout (lambda_timeout_seconds = ${var.timeout_seconds}) is shorter than the worker's retry budget, ${local.worker_attempts} x (lock_wait_ms = ${var.lock_wait_ms} + lock_lease_ms = ${var.lock_lease_ms}) + 2 s = ${local.worker_budget_seconds} s: raise lambda_timeout_seconds or lower those two."
    }
  }
}

resource "aws_lambda_event_source_mapping" "consumer" {
  for_each = local.functions

  event_source_arn = each.value.queue_arn
  function_name    = aws_lambda_function.consumer[each.key].arn

  # Ten records per invocation: the worker's batch, decided under one lock round and one
  # transaction. The handler returns batchItemFailures; Lambda deletes the rest.
  batch_size              = 10
  function_response_types = ["ReportBatchItemFailures"]

  # The mapping's own concurrency cap (2-1000): how many batches run at once, hence how
  # many database connections are in use. Throttling by reserved concurrency instead would
  # bounce messages back to the queue and burn their receive counts.
  scaling_config {
    maximum_concurrency = each.value.max_concurrency
  }

  lifecycle {
    # AWS: a message can be received again only after the visibility timeout; a batch that
    # runs to the function timeout, plus retries of the invocation, must finish inside it,
    # or a second container takes the same messages (and receive counts burn).
    precondition {
      condition     = var.visibility_timeout_seconds >= 6 * var.timeout_seconds
      error_message = "The queue's visibility timeout (${var.visibility_timeout_seconds} s) must be at least 6 x the function timeout (${var.timeout_seconds} s): raise visibility_timeout_seconds or lower lambda_timeout_seconds."
    }
  }
}
