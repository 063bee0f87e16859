# What to be woken for:
#   * a message in either DLQ: a command or event failed max_receive_count times; look at it,
#     fix the cause, redrive it (the DLQs allow redrive to their own queue only);
#   * event lag: the oldest message on the projector queue is older than the threshold, so
#     the read side (the query API) is that far behind;
#   * command lag: the same on the commands queue (the worker pool is behind or stopped);
#   * worker errors: ERROR log lines of the worker (JSON logs, level = ERROR), and on Lambda
#     the function's failed invocations.

locals {
  dlqs = {
    commands = var.commands_dlq_name
    events   = var.projector_dlq_name
  }
  actions = var.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "dlq_not_empty" {
  for_each = local.dlqs

  alarm_name          = "${var.name_prefix}fulfil-${each.key}-dlq-not-empty"
  alarm_description   = "Messages in ${each.value}: they failed ${var.max_receive_count} receives. Inspect, fix, then redrive to the source queue."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "event_lag" {
  alarm_name          = "${var.name_prefix}fulfil-event-lag"
  alarm_description   = "The oldest event on ${var.projector_queue_name} is older than ${var.event_lag_threshold_seconds} s: the read side is behind (projector stopped, slow or failing)."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = var.projector_queue_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  datapoints_to_alarm = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.event_lag_threshold_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "command_lag" {
  alarm_name          = "${var.name_prefix}fulfil-command-lag"
  alarm_description   = "The oldest command on ${var.commands_queue_name} is older than ${var.command_lag_threshold_seconds} s: the workers are behind or stopped."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = var.commands_queue_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  datapoints_to_alarm = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.command_lag_threshold_seconds
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

# The worker logs JSON (FULFIL_LOG_FORMAT=json on ECS and Lambda); each ERROR line counts.
resource "aws_cloudwatch_log_metric_filter" "worker_errors" {
  name           = "${var.name_prefix}fulfil-worker-errors"
  log_group_name = var.worker_log_group_name
  pattern        = "{ $.level = \"ERROR\" }"

  metric_transformation {
    name          = "${var.name_prefix}WorkerErrors"
    namespace     = var.metric_namespace
    value         = "1"
    default_value = "0"
    unit          = "Count"
  }
}

resource "aws_cloudwatch_metric_alarm" "worker_errors" {
  alarm_name          = "${var.name_prefix}fulfil-worker-errors"
  alarm_description   = "More than ${var.worker_error_threshold} worker ERROR log lines in 5 minutes (log group ${var.worker_log_group_name})."
  namespace           = var.metric_namespace
  metric_name         = aws_cloudwatch_log_metric_filter.worker_errors.metric_transformation[0].name
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.worker_error_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

# On Lambda: invocations that failed as a whole (a crash, a timeout, an init failure).
# Partial batch failures are not Errors; they show up as redeliveries and, at worst, in the DLQ.
resource "aws_cloudwatch_metric_alarm" "lambda_errors" {
  for_each = var.lambda_function_names

  alarm_name          = "${var.name_prefix}fulfil-${each.key}-lambda-errors"
  alarm_description   = "Failed invocations of ${each.value} (crash, timeout or init failure)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = each.value }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}
