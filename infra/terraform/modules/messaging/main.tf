# The two pipes of fulfil, named and shaped exactly as `fulfil setup` makes them
# (src/queue/topology.rs), so a `fulfil setup` run against this topology reports every
# topic, queue and subscription as "unchanged":
#
#   <prefix>fulfil-order-commands  topic -> queue <prefix>fulfil-order-commands (DLQ ...-dlq)
#   <prefix>fulfil-order-events    topic -> queue <prefix>fulfil-projector      (DLQ ...-dlq)
#
# Names end in ".fifo" when var.fifo. Only SNS and SQS resources live here, so this module
# also applies to LocalStack (infra/localstack).

locals {
  suffix = var.fifo ? ".fifo" : ""

  # Fourteen days, the SQS maximum: a message waits that long for a fix before it is dropped.
  retention_seconds = 1209600

  pipes = {
    commands = {
      topic = "${var.name_prefix}fulfil-order-commands${local.suffix}"
      queue = "${var.name_prefix}fulfil-order-commands${local.suffix}"
      dlq   = "${var.name_prefix}fulfil-order-commands-dlq${local.suffix}"
    }
    events = {
      topic = "${var.name_prefix}fulfil-order-events${local.suffix}"
      queue = "${var.name_prefix}fulfil-projector${local.suffix}"
      dlq   = "${var.name_prefix}fulfil-projector-dlq${local.suffix}"
    }
  }

  # Why the command_type filter is off by default
  # ----------------------------------------------
  # The wish is "deliver PlaceOrder, CancelOrder and Restock, and also every message whose
  # command_type is wrong or missing, so the worker can keep it as invalid". SNS filter
  # syntax cannot say that usefully:
  #   * three names plus {"anything-but": [those names]} only matches messages that HAVE the
  #     attribute, i.e. it is {"exists": true};
  #   * adding {"exists": false} still misses a message that carries no attributes at all:
  #     SNS documents that "exists": false only matches when at least one attribute is
  #     present, and an empty attribute set never matches a MessageAttributes filter;
  #   * and a policy that did match everything would be no filter, only a slower one.
  # A message a filter rejects is not delivered, not dead-lettered and not kept as invalid:
  # it is gone. The contract says every message carries command_type, and nothing may be
  # lost, so the default is no filter (every message reaches the worker, which stores the
  # invalid ones). enable_command_type_filter = true accepts that SNS silently drops any
  # message whose command_type is missing or not one of var.command_types.
  command_filter_policy = jsonencode({
    command_type = var.command_types
  })
}

resource "aws_sns_topic" "this" {
  for_each = local.pipes

  name                        = each.value.topic
  fifo_topic                  = var.fifo ? true : null
  content_based_deduplication = var.fifo ? false : null
  kms_master_key_id           = var.sns_kms_key_id
  tags                        = var.tags
}

resource "aws_sqs_queue" "dlq" {
  for_each = local.pipes

  name                        = each.value.dlq
  fifo_queue                  = var.fifo ? true : null
  content_based_deduplication = var.fifo ? false : null
  message_retention_seconds   = local.retention_seconds
  sqs_managed_sse_enabled     = var.sqs_managed_sse
  tags                        = var.tags
}

resource "aws_sqs_queue" "main" {
  for_each = local.pipes

  name                        = each.value.queue
  fifo_queue                  = var.fifo ? true : null
  content_based_deduplication = var.fifo ? false : null
  deduplication_scope         = var.fifo && var.fifo_high_throughput ? "messageGroup" : null
  fifo_throughput_limit       = var.fifo && var.fifo_high_throughput ? "perMessageGroupId" : null
  visibility_timeout_seconds  = var.visibility_timeout_seconds
  receive_wait_time_seconds   = 20
  message_retention_seconds   = local.retention_seconds
  sqs_managed_sse_enabled     = var.sqs_managed_sse

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[each.key].arn
    maxReceiveCount     = var.max_receive_count
  })

  tags = var.tags
}

# Each DLQ accepts dead letters only from its own queue.
resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  for_each = local.pipes

  queue_url = aws_sqs_queue.dlq[each.key].id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.main[each.key].arn]
  })
}

# Only the matching topic may send to each queue. The statement is the one `fulfil setup`
# writes, so setup sees no difference.
resource "aws_sqs_queue_policy" "main" {
  for_each = local.pipes

  queue_url = aws_sqs_queue.main[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "topic-may-send"
      Effect    = "Allow"
      Principal = { Service = "sns.amazonaws.com" }
      Action    = "sqs:SendMessage"
      Resource  = aws_sqs_queue.main[each.key].arn
      Condition = { ArnEquals = { "aws:SourceArn" = aws_sns_topic.this[each.key].arn } }
    }]
  })
}

# Raw delivery: the SQS body is the command (or event) document itself, as the contract says.
resource "aws_sns_topic_subscription" "main" {
  for_each = local.pipes

  topic_arn            = aws_sns_topic.this[each.key].arn
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.main[each.key].arn
  raw_message_delivery = true

  # See local.command_filter_policy for why this is off unless asked for.
  filter_policy                   = each.key == "commands" && var.enable_command_type_filter ? local.command_filter_policy : null
  filter_policy_scope             = each.key == "commands" && var.enable_command_type_filter ? "MessageAttributes" : null
  confirmation_timeout_in_minutes = 1

  # The queue must accept the topic before the first message is fanned out.
  depends_on = [aws_sqs_queue_policy.main]
}

# Optional: who may publish commands (the upstream services). Without it, publishers need
# sns:Publish in their own identity policies (same account).
resource "aws_sns_topic_policy" "commands" {
  count = length(var.command_publisher_arns) > 0 ? 1 : 0

  arn = aws_sns_topic.this["commands"].arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "publishers-may-publish"
      Effect    = "Allow"
      Principal = { AWS = var.command_publisher_arns }
      Action    = "sns:Publish"
      Resource  = aws_sns_topic.this["commands"].arn
    }]
  })
}
