# The IAM module alone, with every ARN it takes known, so that a plan evaluates its policy
# documents (in the AWS root they depend on queue and topic ARNs that exist only after
# apply). `infra/check --iam-plan DIR` plans it offline for compute = ecs and = lambda and
# writes `terraform show -json` of each plan for the IAM test (tests/it/iam.rs), which reads
# the ARNs back from this file's module call. Not meant to be applied.

variable "compute" {
  type = string
}

locals {
  arn    = "arn:aws:%s:us-east-1:123456789012:%s"
  queues = ["t-fulfil-order-commands.fifo", "t-fulfil-order-commands-dlq.fifo", "t-fulfil-projector.fifo", "t-fulfil-projector-dlq.fifo"]
  roles  = ["worker", "relay", "projector", "api", "migrate"]
}

module "iam" {
  source = "../terraform/modules/iam"

  name_prefix                   = "t-"
  compute                       = var.compute
  commands_topic_arn            = "arn:aws:sns:us-east-1:123456789012:t-fulfil-order-commands.fifo"
  events_topic_arn              = "arn:aws:sns:us-east-1:123456789012:t-fulfil-order-events.fifo"
  commands_queue_arn            = "arn:aws:sqs:us-east-1:123456789012:t-fulfil-order-commands.fifo"
  commands_dlq_arn              = "arn:aws:sqs:us-east-1:123456789012:t-fulfil-order-commands-dlq.fifo"
  projector_queue_arn           = "arn:aws:sqs:us-east-1:123456789012:t-fulfil-projector.fifo"
  projector_dlq_arn             = "arn:aws:sqs:us-east-1:123456789012:t-fulfil-projector-dlq.fifo"
  all_queue_arns                = [for q in local.queues : format(local.arn, "sqs", q)]
  write_database_url_secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:w-AbCdEf"
  read_database_url_secret_arn  = "arn:aws:secretsmanager:us-east-1:123456789012:secret:r-AbCdEf"
  api_read_url_secret_arn       = "arn:aws:secretsmanager:us-east-1:123456789012:secret:a-AbCdEf"
  redis_url_secret_arn          = "arn:aws:secretsmanager:us-east-1:123456789012:secret:c-AbCdEf"
  ecr_repository_arn            = "arn:aws:ecr:us-east-1:123456789012:repository/fulfil"
  ecs_log_group_arns            = { for r in local.roles : r => format(local.arn, "logs", "log-group:/ecs/t-fulfil-${r}") }
  lambda_log_group_arns         = var.compute == "lambda" ? { for r in ["worker", "projector"] : r => format(local.arn, "logs", "log-group:/aws/lambda/t-fulfil-${r}") } : {}
}
