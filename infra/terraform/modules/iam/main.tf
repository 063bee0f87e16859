# One role per fulfil role, each allowed exactly what that role does:
#
#   worker     receive, delete, change visibility on the commands queue; find and send to
#              the commands DLQ (a message failing its last delivery is moved there by the
#              worker itself, so that on FIFO its group-mates are not dead-lettered with it);
#              no SNS at all
#   relay      sns:Publish on the events topic
#   projector  receive, delete, change visibility on the projector queue; find its DLQ
#   api        nothing (its logs go through the execution role)
#   migrate    the one-off `fulfil setup` task: read-only look-ups of the topology, so a
#              setup run can only find "unchanged" or fail, never alter what Terraform owns
#   execution  ECS pulls the image, writes the logs, reads the database-URL secrets
#
# Worker and projector are assumed by ECS tasks or by Lambda, whichever var.compute chose;
# relay, api and migrate always run on ECS.

locals {
  ecs_principal    = "ecs-tasks.amazonaws.com"
  lambda_principal = "lambda.amazonaws.com"
  consumer_trust   = var.compute == "lambda" ? local.lambda_principal : local.ecs_principal

  trust = {
    worker    = local.consumer_trust
    relay     = local.ecs_principal
    projector = local.consumer_trust
    api       = local.ecs_principal
    migrate   = local.ecs_principal
  }

  # What SQS consumers call: GetQueueUrl and GetQueueAttributes at start (the worker checks
  # the queue before polling; a Lambda event source mapping reads the attributes), then
  # receive, delete (batch) and change visibility (heartbeat and retry, batch).
  consume_actions = [
    "sqs:GetQueueUrl",
    "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
  ]

  # Secrets each role reads. On ECS the execution role resolves them into the container's
  # environment; a Lambda function reads them itself at start (see the lambda module).
  role_secrets = {
    worker    = compact([var.write_database_url_secret_arn, var.redis_url_secret_arn])
    projector = compact([var.read_database_url_secret_arn])
  }
}

data "aws_iam_policy_document" "trust" {
  for_each = local.trust

  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = [each.value]
    }
  }
}

resource "aws_iam_role" "role" {
  for_each = local.trust

  name                 = "${var.name_prefix}fulfil-${each.key}"
  description          = "fulfil ${each.key}: least privilege for that role"
  assume_role_policy   = data.aws_iam_policy_document.trust[each.key].json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

# ---------------------------------------------------------------- worker
data "aws_iam_policy_document" "worker" {
  statement {
    sid       = "ConsumeCommands"
    actions   = local.consume_actions
    resources = [var.commands_queue_arn]
  }

  # GetQueueUrl at start (the redrive policy names the DLQ by ARN); SendMessage also
  # authorises the SendMessageBatch the move uses.
  statement {
    sid       = "DeadLetterOwnFailures"
    actions   = ["sqs:GetQueueUrl", "sqs:SendMessage"]
    resources = [var.commands_dlq_arn]
  }
}

resource "aws_iam_role_policy" "worker" {
  name   = "consume-commands"
  role   = aws_iam_role.role["worker"].id
  policy = data.aws_iam_policy_document.worker.json
}

# ---------------------------------------------------------------- relay
data "aws_iam_policy_document" "relay" {
  statement {
    sid       = "PublishEvents"
    actions   = ["sns:Publish"]
    resources = [var.events_topic_arn]
  }
}

resource "aws_iam_role_policy" "relay" {
  name   = "publish-events"
  role   = aws_iam_role.role["relay"].id
  policy = data.aws_iam_policy_document.relay.json
}

# ---------------------------------------------------------------- projector
data "aws_iam_policy_document" "projector" {
  statement {
    sid       = "ConsumeEvents"
    actions   = local.consume_actions
    resources = [var.projector_queue_arn]
  }

  # The consumer looks the DLQ up at start; the projector never sends to it itself.
  statement {
    sid       = "FindDeadLetterQueue"
    actions   = ["sqs:GetQueueUrl"]
    resources = [var.projector_dlq_arn]
  }
}

resource "aws_iam_role_policy" "projector" {
  name   = "consume-events"
  role   = aws_iam_role.role["projector"].id
  policy = data.aws_iam_policy_document.projector.json
}

# ---------------------------------------------------------------- lambda basics
# A Lambda function writes its own logs, reads its own database-URL secrets at start (there
# is no execution role to inject them), and, in a VPC, manages its network interfaces (the
# EC2 actions take no resource ARNs; this is AWSLambdaVPCAccessExecutionRole's set).
data "aws_iam_policy_document" "lambda_basics" {
  for_each = var.compute == "lambda" ? var.lambda_log_group_arns : {}

  statement {
    sid       = "ReadOwnSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = local.role_secrets[each.key]
  }

  dynamic "statement" {
    for_each = var.secrets_kms_key_arn == null ? [] : [1]
    content {
      sid       = "DecryptOwnSecrets"
      actions   = ["kms:Decrypt"]
      resources = [var.secrets_kms_key_arn]
    }
  }

  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${each.value}:*"]
  }

  statement {
    sid = "VpcNetworkInterfaces"
    actions = [
      "ec2:CreateNetworkInterface",
      "ec2:DescribeNetworkInterfaces",
      "ec2:DescribeSubnets",
      "ec2:DeleteNetworkInterface",
      "ec2:AssignPrivateIpAddresses",
      "ec2:UnassignPrivateIpAddresses",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "lambda_basics" {
  for_each = data.aws_iam_policy_document.lambda_basics

  name   = "lambda-logs-and-vpc"
  role   = aws_iam_role.role[each.key].id
  policy = each.value.json
}

# ---------------------------------------------------------------- migrate (one-off setup)
# `fulfil setup` looks every resource up before it would create or correct it. Granting only
# the look-ups means that against Terraform's topology it reports "unchanged" and applies the
# migrations; if anything differed it fails on the first Create/Set call instead of quietly
# changing what Terraform owns.
data "aws_iam_policy_document" "migrate" {
  # Neither action takes a resource ARN in IAM: both need "*". Both only read.
  statement {
    sid       = "FindTopicsReadSubscriptions"
    actions   = ["sns:ListTopics", "sns:GetSubscriptionAttributes"]
    resources = ["*"]
  }

  statement {
    sid       = "ListSubscriptions"
    actions   = ["sns:ListSubscriptionsByTopic"]
    resources = [var.commands_topic_arn, var.events_topic_arn]
  }

  statement {
    sid       = "ReadQueues"
    actions   = ["sqs:GetQueueUrl", "sqs:GetQueueAttributes"]
    resources = var.all_queue_arns
  }
}

resource "aws_iam_role_policy" "migrate" {
  name   = "read-topology"
  role   = aws_iam_role.role["migrate"].id
  policy = data.aws_iam_policy_document.migrate.json
}

# ---------------------------------------------------------------- ECS task execution
data "aws_iam_policy_document" "execution_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = [local.ecs_principal]
    }
  }
}

resource "aws_iam_role" "execution" {
  name                 = "${var.name_prefix}fulfil-ecs-execution"
  description          = "ECS agent for fulfil tasks: pull the image, write logs, resolve secrets"
  assume_role_policy   = data.aws_iam_policy_document.execution_trust.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid     = "PullImage"
    actions = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    # null: any repository (e.g. while the image lives elsewhere); set it to pin one.
    resources = [coalesce(var.ecr_repository_arn, "*")]
  }

  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [for arn in values(var.ecs_log_group_arns) : "${arn}:*"]
  }

  statement {
    sid       = "ResolveSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = distinct(compact([var.write_database_url_secret_arn, var.read_database_url_secret_arn, var.api_read_url_secret_arn, var.redis_url_secret_arn]))
  }

  dynamic "statement" {
    for_each = var.secrets_kms_key_arn == null ? [] : [1]
    content {
      sid       = "DecryptSecrets"
      actions   = ["kms:Decrypt"]
      resources = [var.secrets_kms_key_arn]
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "pull-log-secrets"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}
