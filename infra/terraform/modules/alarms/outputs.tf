output "alarm_names" {
  value = concat(
    [for a in aws_cloudwatch_metric_alarm.dlq_not_empty : a.alarm_name],
    [aws_cloudwatch_metric_alarm.event_lag.alarm_name, aws_cloudwatch_metric_alarm.command_lag.alarm_name, aws_cloudwatch_metric_alarm.worker_errors.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.lambda_errors : a.alarm_name],
  )
}
