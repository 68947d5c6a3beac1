# keywarden for a whole AWS Organization, from the management account: the
# hub here, the spoke roles in every member account through a
# SERVICE_MANAGED StackSet (new accounts included, automatically), and in
# the management account itself through the spoke module, since StackSets
# never deploy there. To run the hub in a delegated administrator account
# instead, apply the hub module there and the StackSet here.

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
  description = "The region of the function, its state table and the StackSet."
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

variable "external_id" {
  description = "Optional external ID the spoke roles require."
  type        = string
  default     = ""
  sensitive   = true
}

variable "enable_rotation" {
  description = "Let the act roles rotate keys into Secrets Manager."
  type        = bool
  default     = false
}

data "aws_caller_identity" "current" {}
data "aws_organizations_organization" "current" {}

module "hub" {
  source                = "../../modules/hub"
  lambda_zip            = var.lambda_zip
  policy_file           = var.policy_file
  external_id           = var.external_id == "" ? null : var.external_id
  create_reports_bucket = true
}

resource "aws_cloudformation_stack_set" "spoke" {
  name             = "keywarden-spoke"
  description      = "keywarden's spoke roles in every member account"
  permission_model = "SERVICE_MANAGED"
  capabilities     = ["CAPABILITY_NAMED_IAM"]
  template_body    = file("${path.module}/../../../cloudformation/spoke-roles.yaml")

  auto_deployment {
    enabled                          = true
    retain_stacks_on_account_removal = false
  }

  parameters = {
    HubAccountId   = data.aws_caller_identity.current.account_id
    HubRoleName    = module.hub.hub_role_name
    OrganizationId = data.aws_organizations_organization.current.id
    ExternalId     = var.external_id
    EnableRotation = tostring(var.enable_rotation)
  }

  operation_preferences {
    failure_tolerance_percentage = 10
    max_concurrent_percentage    = 25
  }

  lifecycle {
    ignore_changes = [administration_role_arn]
  }
}

resource "aws_cloudformation_stack_set_instance" "spoke" {
  stack_set_name = aws_cloudformation_stack_set.spoke.name
  region         = var.region
  deployment_targets {
    organizational_unit_ids = [data.aws_organizations_organization.current.roots[0].id]
  }
}

# StackSets never deploy to the management account: its roles come from
# the module.
module "spoke_management" {
  source          = "../../modules/spoke"
  hub_account_id  = data.aws_caller_identity.current.account_id
  hub_role_name   = module.hub.hub_role_name
  organization_id = data.aws_organizations_organization.current.id
  external_id     = var.external_id == "" ? null : var.external_id
  enable_rotation = var.enable_rotation
}

output "state" {
  value = module.hub.state
}

output "reports_s3" {
  value = module.hub.reports_s3
}
