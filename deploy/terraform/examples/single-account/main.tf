# keywarden in one account: the hub and the spoke roles side by side. The
# function reads and acts in its own account through the spoke roles
# (KEYWARDEN_HUB_VIA_ROLE), so its own role holds no IAM permissions.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

provider "aws" {
  region = var.region
}

variable "region" {
  description = "The region of the function and its state table."
  type        = string
  default     = "eu-west-1"
}

variable "lambda_zip" {
  description = "Path of the function's zip (docs/lambda.md)."
  type        = string
  default     = "keywarden-lambda.zip"
}

variable "policy_file" {
  description = "Path of the policy file."
  type        = string
  default     = "keywarden.yaml"
}

data "aws_caller_identity" "current" {}

module "hub" {
  source                = "../../modules/hub"
  lambda_zip            = var.lambda_zip
  policy_file           = var.policy_file
  schedule              = "rate(1 day)"
  create_reports_bucket = true
}

module "spoke" {
  source         = "../../modules/spoke"
  hub_account_id = data.aws_caller_identity.current.account_id
  hub_role_name  = module.hub.hub_role_name
}

output "state" {
  value = module.hub.state
}

output "reports_s3" {
  value = module.hub.reports_s3
}

output "read_role_arn" {
  value = module.spoke.read_role_arn
}

output "act_role_arn" {
  value = module.spoke.act_role_arn
}
