# keywarden's hub: the Lambda function on a schedule, its role, the
# DynamoDB state table, the log group, the policy file, and optionally a
# bucket for reports. The IAM actions are checked against the code's list
# (internal/permissions) by keywarden's tests: change both together.

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  account    = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  policy_key = "keywarden/keywarden.yaml"
  config     = var.policy_store == "ssm" ? "ssm:${var.policy_parameter_name}" : "s3://${var.policy_bucket}/${local.policy_key}"
  spoke_roles = concat(
    ["arn:${local.partition}:iam::*:role/${var.read_role_name}"],
    var.enable_act ? ["arn:${local.partition}:iam::*:role/${var.act_role_name}"] : [],
  )
}

resource "aws_dynamodb_table" "state" {
  name                        = var.state_table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = true

  attribute {
    name = "pk"
    type = "S"
  }
  attribute {
    name = "sk"
    type = "S"
  }
  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled = true
  }
  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket" "reports" {
  count         = var.create_reports_bucket ? 1 : 0
  bucket_prefix = "keywarden-reports-"
}

resource "aws_s3_bucket_public_access_block" "reports" {
  count                   = var.create_reports_bucket ? 1 : 0
  bucket                  = aws_s3_bucket.reports[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "reports" {
  count  = var.create_reports_bucket ? 1 : 0
  bucket = aws_s3_bucket.reports[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_cloudwatch_log_group" "hub" {
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
}

resource "aws_ssm_parameter" "policy" {
  count = var.policy_store == "ssm" ? 1 : 0
  name  = var.policy_parameter_name
  type  = "String"
  tier  = length(file(var.policy_file)) > 4096 ? "Advanced" : "Standard"
  value = file(var.policy_file)
}

resource "aws_s3_object" "policy" {
  count  = var.policy_store == "s3" ? 1 : 0
  bucket = var.policy_bucket
  key    = local.policy_key
  source = var.policy_file
  etag   = filemd5(var.policy_file)
}

data "aws_iam_policy_document" "lambda_trust" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "hub" {
  statement {
    sid       = "AssumeSpokeRoles"
    effect    = "Allow"
    actions   = ["sts:AssumeRole"]
    resources = local.spoke_roles
  }
  statement {
    sid    = "Organization"
    effect = "Allow"
    actions = [
      "organizations:ListRoots",
      "organizations:ListOrganizationalUnitsForParent",
      "organizations:ListAccountsForParent",
    ]
    resources = ["*"]
  }
  statement {
    sid    = "State"
    effect = "Allow"
    actions = [
      "dynamodb:DescribeTable",
      "dynamodb:GetItem",
      "dynamodb:BatchGetItem",
      "dynamodb:Query",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "dynamodb:DeleteItem",
      "dynamodb:ConditionCheckItem",
    ]
    resources = [aws_dynamodb_table.state.arn]
  }
  dynamic "statement" {
    for_each = var.policy_store == "ssm" ? [1] : []
    content {
      sid       = "PolicySsm"
      effect    = "Allow"
      actions   = ["ssm:GetParameter"]
      resources = ["arn:${local.partition}:ssm:${local.region}:${local.account}:parameter${var.policy_parameter_name}"]
    }
  }
  dynamic "statement" {
    for_each = var.policy_store == "ssm" ? [1] : []
    content {
      sid       = "PolicySsmKms"
      effect    = "Allow"
      actions   = ["kms:Decrypt"]
      resources = ["arn:${local.partition}:kms:${local.region}:${local.account}:key/*"]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["ssm.${local.region}.amazonaws.com"]
      }
    }
  }
  dynamic "statement" {
    for_each = var.policy_store == "s3" ? [1] : []
    content {
      sid       = "PolicyS3"
      effect    = "Allow"
      actions   = ["s3:GetObject"]
      resources = ["arn:${local.partition}:s3:::${var.policy_bucket}/${local.policy_key}"]
    }
  }
  dynamic "statement" {
    for_each = var.create_reports_bucket ? [1] : []
    content {
      sid       = "Reports"
      effect    = "Allow"
      actions   = ["s3:PutObject"]
      resources = ["${aws_s3_bucket.reports[0].arn}/*"]
    }
  }
  dynamic "statement" {
    for_each = length(var.sns_topic_arns) > 0 ? [1] : []
    content {
      sid       = "NotifySns"
      effect    = "Allow"
      actions   = ["sns:Publish"]
      resources = var.sns_topic_arns
    }
  }
  dynamic "statement" {
    for_each = length(var.ses_identity_arns) > 0 ? [1] : []
    content {
      sid       = "NotifySes"
      effect    = "Allow"
      actions   = ["ses:SendEmail"]
      resources = var.ses_identity_arns
    }
  }
  statement {
    sid       = "Logs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.hub.arn}:*"]
  }
}

resource "aws_iam_role" "hub" {
  name               = var.name
  description        = "keywarden's hub, the Lambda function's role"
  assume_role_policy = data.aws_iam_policy_document.lambda_trust.json
}

resource "aws_iam_role_policy" "hub" {
  name   = "keywarden-hub"
  role   = aws_iam_role.hub.id
  policy = data.aws_iam_policy_document.hub.json
}

resource "aws_lambda_function" "hub" {
  function_name    = var.name
  description      = "keywarden keeps IAM access keys healthy across the organization"
  role             = aws_iam_role.hub.arn
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = [var.architecture]
  filename         = var.lambda_zip
  source_code_hash = filebase64sha256(var.lambda_zip)
  timeout          = 900
  memory_size      = var.memory_size

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.hub.name
  }

  environment {
    variables = merge({
      KEYWARDEN_CONFIG       = local.config
      KEYWARDEN_STATE        = "dynamodb://${aws_dynamodb_table.state.name}"
      KEYWARDEN_HUB_VIA_ROLE = "true"
    }, var.external_id == null ? {} : { KEYWARDEN_EXTERNAL_ID = var.external_id })
  }

  depends_on = [aws_iam_role_policy.hub, aws_ssm_parameter.policy, aws_s3_object.policy]
}

resource "aws_cloudwatch_event_rule" "schedule" {
  name                = var.name
  description         = "keywarden's scheduled run"
  schedule_expression = var.schedule
}

resource "aws_cloudwatch_event_target" "schedule" {
  rule = aws_cloudwatch_event_rule.schedule.name
  arn  = aws_lambda_function.hub.arn
}

resource "aws_lambda_permission" "schedule" {
  statement_id  = "keywarden-schedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.hub.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.schedule.arn
}
