# The messaging module applied to LocalStack: the only part of infra/terraform that LocalStack
# can take here, because the dev LocalStack runs SNS and SQS only (no IAM, ECS, Lambda,
# CloudWatch or Secrets Manager). See infra/README.md for what was tried and what happened.
#
#   terraform init -backend=false -plugin-dir=/opt/tf-plugins
#   terraform apply -var name_prefix=tfcheck-$$-
#   terraform destroy -var name_prefix=tfcheck-$$-
#
# State stays in this directory (terraform.tfstate, git-ignored): use a name_prefix of your
# own so nothing collides with `fulfil setup`'s unprefixed names or the tests' queues.

terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}

variable "localstack_endpoint" {
  description = "LocalStack's edge URL (./dev up starts it on 127.0.0.1:62669)."
  type        = string
  default     = "http://127.0.0.1:62669"
}

variable "name_prefix" {
  description = "Prefix of every name; keep it unique (e.g. tfcheck-<something>-)."
  type        = string
  default     = "tfcheck-"
}

variable "fifo" {
  type    = bool
  default = true
}

variable "enable_command_type_filter" {
  description = "Try the command_type filter: SNS then drops commands without the attribute (see the messaging module)."
  type        = bool
  default     = false
}

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true

  endpoints {
    sns = var.localstack_endpoint
    sqs = var.localstack_endpoint
    iam = var.localstack_endpoint
    sts = var.localstack_endpoint
  }
}

module "messaging" {
  source = "../terraform/modules/messaging"

  name_prefix = var.name_prefix
  fifo        = var.fifo

  enable_command_type_filter = var.enable_command_type_filter
}

output "commands_topic_arn" {
  value = module.messaging.commands_topic_arn
}

output "events_topic_arn" {
  value = module.messaging.events_topic_arn
}

output "commands_queue_url" {
  value = module.messaging.commands_queue_url
}

output "projector_queue_url" {
  value = module.messaging.projector_queue_url
}

output "commands_dlq_url" {
  value = module.messaging.commands_dlq_url
}

output "projector_dlq_url" {
  value = module.messaging.projector_dlq_url
}
