# keywarden's spoke roles: a read role (scan) and an optional act role
# (deactivate, delete, rotate), trusting only the hub role. The IAM actions
# are checked against the code's list (internal/permissions) by keywarden's
# tests: change both together.

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition = data.aws_partition.current.partition
  account   = data.aws_caller_identity.current.account_id
  hub_role  = "arn:${local.partition}:iam::${var.hub_account_id}:role/${var.hub_role_name}"
  rotation  = var.enable_act && var.enable_rotation
  # The account's IAM users: the only resources the act role touches in IAM.
  users = "arn:${local.partition}:iam::${local.account}:user/*"
}

# The account root as principal, narrowed by aws:PrincipalArn: a role ARN as
# principal would fail with "Invalid principal" wherever the spoke is
# deployed before the hub role exists.
data "aws_iam_policy_document" "trust" {
  statement {
    sid     = "KeywardenHub"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${var.hub_account_id}:root"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:PrincipalArn"
      values   = [local.hub_role]
    }
    dynamic "condition" {
      for_each = var.organization_id == null ? [] : [var.organization_id]
      content {
        test     = "StringEquals"
        variable = "aws:PrincipalOrgID"
        values   = [condition.value]
      }
    }
    dynamic "condition" {
      for_each = var.external_id == null ? [] : [var.external_id]
      content {
        test     = "StringEquals"
        variable = "sts:ExternalId"
        values   = [condition.value]
      }
    }
  }
}

data "aws_iam_policy_document" "read" {
  statement {
    sid    = "KeywardenScan"
    effect = "Allow"
    actions = [
      "iam:GenerateCredentialReport",
      "iam:GetCredentialReport",
      "iam:GetAccountAuthorizationDetails",
      "iam:GetAccountSummary",
      "iam:ListUsers",
      "iam:ListAccessKeys",
      "iam:GetAccessKeyLastUsed",
    ]
    resources = ["*"]
  }
  dynamic "statement" {
    for_each = var.enable_security_hub ? [1] : []
    content {
      sid       = "KeywardenSecurityHub"
      effect    = "Allow"
      actions   = ["securityhub:GetFindings", "securityhub:BatchImportFindings"]
      resources = ["*"]
    }
  }
}

data "aws_iam_policy_document" "act" {
  statement {
    sid    = "KeywardenAct"
    effect = "Allow"
    actions = [
      "iam:ListAccessKeys",
      "iam:GetAccessKeyLastUsed",
      "iam:UpdateAccessKey",
      "iam:DeleteAccessKey",
    ]
    resources = [local.users]
  }
  dynamic "statement" {
    for_each = local.rotation ? [1] : []
    content {
      sid       = "KeywardenRotateKey"
      effect    = "Allow"
      actions   = ["iam:CreateAccessKey"]
      resources = [local.users]
    }
  }
  dynamic "statement" {
    for_each = local.rotation ? [1] : []
    content {
      sid    = "KeywardenRotateSecret"
      effect = "Allow"
      actions = [
        "secretsmanager:DescribeSecret",
        "secretsmanager:CreateSecret",
        "secretsmanager:PutSecretValue",
        "secretsmanager:PutResourcePolicy",
        "secretsmanager:TagResource",
        "secretsmanager:ReplicateSecretToRegions",
      ]
      resources = ["arn:${local.partition}:secretsmanager:*:${local.account}:secret:${var.secret_name_prefix}*"]
    }
  }
  dynamic "statement" {
    for_each = local.rotation && var.rotation_kms_key_arn != null ? [var.rotation_kms_key_arn] : []
    content {
      sid       = "KeywardenRotateKms"
      effect    = "Allow"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [statement.value]
      condition {
        test     = "StringLike"
        variable = "kms:ViaService"
        values   = ["secretsmanager.*.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role" "read" {
  name                 = var.read_role_name
  description          = "keywarden reads IAM access keys (scan)"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "read" {
  name   = "keywarden-read"
  role   = aws_iam_role.read.id
  policy = data.aws_iam_policy_document.read.json
}

resource "aws_iam_role" "act" {
  count                = var.enable_act ? 1 : 0
  name                 = var.act_role_name
  description          = "keywarden deactivates, deletes and rotates IAM access keys (apply, undo)"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "act" {
  count  = var.enable_act ? 1 : 0
  name   = "keywarden-act"
  role   = aws_iam_role.act[0].id
  policy = data.aws_iam_policy_document.act.json
}
