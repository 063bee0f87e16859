output "task_role_arns" {
  description = "Role ARN by fulfil role: worker, relay, projector, api, migrate."
  value       = { for k, r in aws_iam_role.role : k => r.arn }
}

output "execution_role_arn" {
  value = aws_iam_role.execution.arn
}
