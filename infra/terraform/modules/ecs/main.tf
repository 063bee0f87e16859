# fulfil on ECS Fargate: one cluster, one task definition per role (the same image, the role
# is the command: `fulfil worker`, `fulfil relay`, ...), one service for each long-running
# role, and a `migrate` task definition run once per release (`fulfil setup`: see
# infra/DEPLOYING.md). Worker and projector services exist only when var.run_consumers
# (compute = "ecs"); relay and api always run here.

locals {
  roles = var.run_consumers ? ["worker", "relay", "projector", "api"] : ["relay", "api"]

  ops_addr = "0.0.0.0:${var.ops_port}"

  # What every role reads: where AWS is and how the topology is named (the same values the
  # messaging module was given, so names line up), and how to log.
  common_env = {
    AWS_REGION                = var.region
    FULFIL_QUEUE_PREFIX       = var.name_prefix
    FULFIL_STANDARD_QUEUES    = var.fifo ? "false" : "true"
    FULFIL_MAX_RECEIVE_COUNT  = tostring(var.max_receive_count)
    FULFIL_VISIBILITY_TIMEOUT = tostring(var.visibility_timeout_seconds)
    FULFIL_LOG_FORMAT         = "json"
    RUST_LOG                  = var.log_filter
    FULFIL_OPS_ADDR           = local.ops_addr
  }

  role_env = {
    worker = {
      FULFIL_WORKER_CONCURRENCY = tostring(var.worker_concurrency)
      FULFIL_MAX_IN_FLIGHT      = tostring(var.worker_max_in_flight)
      FULFIL_LOCK_LEASE_MS      = tostring(var.lock_lease_ms)
      FULFIL_LOCK_WAIT_MS       = tostring(var.lock_wait_ms)
      FULFIL_REDIS_KEY_PREFIX   = var.redis_key_prefix
    }
    # The relay gets its topic's ARN so it need not list topics (its role may not).
    relay     = { FULFIL_EVENTS_TOPIC_ARN = var.events_topic_arn }
    projector = {}
    # The API serves /v1 and the operations routes on one listener; the health check asks it.
    api = {
      FULFIL_API_ADDR        = "0.0.0.0:${var.api_port}"
      FULFIL_HEALTHCHECK_URL = "http://127.0.0.1:${var.api_port}/healthz"
    }
    migrate = {}
  }

  # Database and Redis URLs carry passwords: Secrets Manager ARNs, resolved by ECS at start.
  role_secrets = {
    worker    = { FULFIL_WRITE_DATABASE_URL = var.write_database_url_secret_arn, FULFIL_REDIS_URL = var.redis_url_secret_arn }
    relay     = { FULFIL_WRITE_DATABASE_URL = var.write_database_url_secret_arn }
    projector = { FULFIL_READ_DATABASE_URL = var.read_database_url_secret_arn }
    api       = { FULFIL_READ_DATABASE_URL = var.api_read_url_secret_arn }
    migrate   = { FULFIL_WRITE_DATABASE_URL = var.write_database_url_secret_arn, FULFIL_READ_DATABASE_URL = var.read_database_url_secret_arn }
  }

  command = {
    worker    = ["worker"]
    relay     = ["relay"]
    projector = ["projector"]
    api       = ["api"]
    migrate   = ["setup"]
  }

  ports = {
    worker    = [var.ops_port]
    relay     = [var.ops_port]
    projector = [var.ops_port]
    api       = [var.api_port]
    migrate   = []
  }

  task_roles = concat(local.roles, ["migrate"])

  container = {
    for role in local.task_roles : role => {
      name      = "fulfil"
      image     = var.image
      command   = local.command[role]
      essential = true
      user      = "10001"

      readonlyRootFilesystem = true
      # SIGTERM, then this long to stop receiving, finish the batches in hand and return the
      # rest to the queue, before SIGKILL. The worker needs well under 30 s.
      stopTimeout = 30

      environment = [
        for k, v in merge(local.common_env, local.role_env[role], var.extra_environment) : { name = k, value = v }
      ]
      secrets = [
        for k, arn in local.role_secrets[role] : { name = k, valueFrom = arn }
      ]
      portMappings = [
        for p in local.ports[role] : { containerPort = p, protocol = "tcp" }
      ]

      # `fulfil healthcheck` asks the role's own /healthz (liveness only: a worker holding its
      # batch through a database outage is alive and must not be replaced).
      healthCheck = role == "migrate" ? null : {
        command     = ["CMD", "/usr/local/bin/fulfil", "healthcheck"]
        interval    = 15
        timeout     = 5
        retries     = 3
        startPeriod = 30
      }

      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = var.log_group_names[role]
          awslogs-region        = var.region
          awslogs-stream-prefix = role
        }
      }
    }
  }
}

resource "aws_ecs_cluster" "this" {
  name = "${var.name_prefix}fulfil"

  # Container Insights publishes RunningTaskCount, the divisor of the worker's scaling metric.
  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = var.tags
}

resource "aws_ecs_task_definition" "role" {
  for_each = toset(local.task_roles)

  family                   = "${var.name_prefix}fulfil-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.sizes[each.key].cpu)
  memory                   = tostring(var.sizes[each.key].memory)
  execution_role_arn       = var.execution_role_arn
  task_role_arn            = var.task_role_arns[each.key]

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  # jsonencode drops nothing, so the null healthCheck of `migrate` is filtered out here.
  container_definitions = jsonencode([
    { for k, v in local.container[each.key] : k => v if v != null }
  ])

  tags = var.tags
}

# Relay, projector and API: counts as var.sizes says.
resource "aws_ecs_service" "role" {
  for_each = toset([for r in local.roles : r if r != "worker"])

  name            = "${var.name_prefix}fulfil-${each.key}"
  cluster         = aws_ecs_cluster.this.id
  task_definition = aws_ecs_task_definition.role[each.key].arn
  desired_count   = var.sizes[each.key].desired_count
  launch_type     = "FARGATE"

  # One relay at a time publishes the outbox in commit order: a deploy of the relay stops
  # the old task before it starts the new one. The others roll with overlap.
  deployment_minimum_healthy_percent = each.key == "relay" ? 0 : 100
  deployment_maximum_percent         = each.key == "relay" ? 100 : 200

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = var.security_group_ids
    assign_public_ip = var.assign_public_ip
  }

  dynamic "load_balancer" {
    for_each = each.key == "api" && var.api_target_group_arn != null ? [1] : []
    content {
      target_group_arn = var.api_target_group_arn
      container_name   = "fulfil"
      container_port   = var.api_port
    }
  }

  tags = var.tags
}

# The worker: its count belongs to the autoscaling policy once created.
resource "aws_ecs_service" "worker" {
  count = var.run_consumers ? 1 : 0

  name            = "${var.name_prefix}fulfil-worker"
  cluster         = aws_ecs_cluster.this.id
  task_definition = aws_ecs_task_definition.role["worker"].arn
  desired_count   = var.worker_min_count
  launch_type     = "FARGATE"

  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = var.security_group_ids
    assign_public_ip = var.assign_public_ip
  }

  lifecycle {
    ignore_changes = [desired_count]
  }

  tags = var.tags
}

# ---------------------------------------------------------------- worker autoscaling
# Target tracking on backlog per task: visible messages on the commands queue divided by the
# worker tasks running. One task takes concurrency x 10 messages at a time, so a target of a
# few times that keeps the backlog draining within a couple of batch durations.
resource "aws_appautoscaling_target" "worker" {
  count = var.run_consumers ? 1 : 0

  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.worker[0].name}"
  min_capacity       = var.worker_min_count
  max_capacity       = var.worker_max_count
}

resource "aws_appautoscaling_policy" "worker_backlog" {
  count = var.run_consumers ? 1 : 0

  name               = "${var.name_prefix}fulfil-worker-backlog-per-task"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.worker[0].service_namespace
  scalable_dimension = aws_appautoscaling_target.worker[0].scalable_dimension
  resource_id        = aws_appautoscaling_target.worker[0].resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.worker_backlog_per_task_target
    scale_out_cooldown = 30
    scale_in_cooldown  = 180

    customized_metric_specification {
      metrics {
        id          = "backlog"
        label       = "visible messages on the commands queue"
        return_data = false
        metric_stat {
          stat = "Sum"
          metric {
            namespace   = "AWS/SQS"
            metric_name = "ApproximateNumberOfMessagesVisible"
            dimensions {
              name  = "QueueName"
              value = var.commands_queue_name
            }
          }
        }
      }

      metrics {
        id          = "tasks"
        label       = "running worker tasks"
        return_data = false
        metric_stat {
          stat = "Average"
          metric {
            namespace   = "ECS/ContainerInsights"
            metric_name = "RunningTaskCount"
            dimensions {
              name  = "ClusterName"
              value = aws_ecs_cluster.this.name
            }
            dimensions {
              name  = "ServiceName"
              value = aws_ecs_service.worker[0].name
            }
          }
        }
      }

      # No running task (a fresh deploy, a crash loop) must not divide by zero: then the whole
      # backlog is the per-task figure, which scales out.
      metrics {
        id          = "backlog_per_task"
        label       = "visible messages per running worker task"
        expression  = "IF(tasks > 0, backlog / tasks, backlog)"
        return_data = true
      }
    }
  }
}
