package orggen

import "sync"

// Fixed word lists. The generator only ever indexes into them, so their order
// is part of what makes a seed reproducible: append, do not reorder.

var firstNames = []string{
	"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
	"ivan", "judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil",
	"trent", "victor", "walter", "wendy", "aisha", "arjun", "bruno", "chloe",
	"diego", "elena", "emma", "fatima", "felix", "hana", "hugo", "ines",
	"jamal", "jonas", "kenji", "lars", "leila", "lucas", "maria", "mateo",
	"mei", "nadia", "noah", "omar", "priya", "rafael", "rosa", "sara",
	"sofia", "tariq", "tomas", "uma", "yara", "yusuf", "zoe", "liam",
	"ava", "ethan", "mia", "oscar", "nora", "ruth", "samuel", "ingrid",
}

var lastNames = []string{
	"smith", "jones", "garcia", "muller", "rossi", "kim", "nguyen", "patel",
	"silva", "novak", "kowalski", "johansson", "dubois", "tanaka", "okafor", "mensah",
	"cohen", "murphy", "oconnor", "schmidt", "fischer", "weber", "lopez", "martin",
	"bernard", "costa", "santos", "ali", "khan", "singh", "sharma", "wang",
	"li", "zhang", "chen", "yamamoto", "sato", "park", "lee", "brown",
	"taylor", "wilson", "davies", "evans", "thomas", "roberts", "walker", "wright",
	"hall", "green", "hughes", "lewis", "clarke", "jackson", "white", "harris",
	"ward", "baker", "morgan", "young", "king", "scott", "adams", "nelson",
}

var teams = []string{
	"platform", "payments", "data", "identity", "search", "mobile", "web", "checkout",
	"risk", "analytics", "ml", "growth", "billing", "sre", "security", "support",
}

// workloads name member accounts (prod-payments, dev-data, shared-search).
var workloads = []string{
	"payments", "data", "checkout", "identity", "search", "mobile", "web", "analytics",
	"ml", "orders", "billing", "catalog", "shipping", "inventory", "messaging", "media",
	"auth", "risk", "ledger", "reporting", "notifications", "partners", "api", "platform",
	"pricing", "loyalty", "fraud", "recommendations", "support", "crm", "marketing", "warehouse",
}

var prodSuffixes = []string{"", "", "", "-eu", "-us", "-apac"}

var nonProdEnvs = []string{"dev", "dev", "dev", "staging", "staging", "qa", "test"}

var securityAccounts = []string{
	"security-audit", "security-logs", "security-tooling", "security-forensics",
	"security-detection", "security-secrets",
}

var infraAccounts = []string{
	"infra-network", "infra-shared-services", "infra-dns", "infra-ci", "infra-backup",
	"infra-observability", "infra-identity", "infra-transit", "infra-artifacts",
}

// svcThings × svcRoles name service users: svc-orders-api.
var svcThings = []string{
	"orders", "payments", "invoices", "reports", "backup", "etl", "search", "images",
	"email", "sms", "ledger", "audit", "metrics", "logs", "catalog", "pricing",
	"users", "sessions", "uploads", "exports", "billing", "fraud", "ml", "feeds",
	"geo", "cache", "queue", "cdn", "dns", "certs", "alerts", "tickets",
}

var svcRoles = []string{
	"api", "worker", "sync", "exporter", "ingest", "uploader", "scheduler", "reader",
	"writer", "archiver", "indexer", "consumer",
}

// ciRepos × ciSuffixes name CI users: ci-checkout-web.
var ciRepos = []string{
	"checkout", "storefront", "payments", "mobile-app", "data-pipeline", "infra", "terraform",
	"website", "api-gateway", "auth-service", "search", "ml-models", "billing", "docs",
	"catalog", "orders", "notifications", "admin-portal", "reporting", "ledger",
}

var ciSuffixes = []string{"", "-deploy", "-release", "-infra", "-web", "-staging", "-prod", "-lambda"}

// vendors name legacy integration users: svc-legacy-datadog.
var vendors = []string{
	"datadog", "splunk", "newrelic", "pagerduty", "sumologic", "cloudflare", "fastly",
	"snowflake", "twilio", "sendgrid", "okta", "jenkins", "circleci", "travis",
	"bitbucket", "heroku", "mongodb-atlas", "tableau", "looker", "segment",
}

var regions = []string{
	"us-east-1", "us-east-1", "us-east-1", "us-east-1", "us-east-1", "us-east-1", "us-east-1", "us-east-1", "us-east-1",
	"us-west-2", "us-west-2", "us-west-2",
	"eu-west-1", "eu-west-1", "eu-west-1", "eu-west-1",
	"eu-central-1", "eu-central-1",
	"ap-southeast-2", "ap-northeast-1",
}

// Services a key was last used with, by kind of user.
var (
	humanServices  = []string{"iam", "sts", "s3", "s3", "ec2", "ec2", "cloudformation", "lambda", "dynamodb"}
	svcServices    = []string{"s3", "s3", "s3", "dynamodb", "dynamodb", "sqs", "sqs", "secretsmanager", "lambda", "sns", "kms"}
	ciServices     = []string{"s3", "cloudformation", "cloudformation", "ecr", "ecr", "lambda", "sts", "ecs"}
	legacyServices = []string{"s3", "s3", "ses", "sqs", "ec2", "cloudwatch"}
	rootServices   = []string{"iam", "s3", "ec2", "billing"}
)

// tables are the name lists crossed once, so that the hot loop indexes
// shared strings instead of allocating a name per user.
type tables struct {
	humans  []string // first.last, index f*len(lastNames)+l
	emails  []string // first.last@example.com, same index
	svc     []string // svc-<thing>-<role>
	ci      []string // ci-<repo><suffix>
	legacy  []string // svc-legacy-<vendor>
	repoTag []string // acme/<repo><suffix>, same index as ci
}

var nameTables = sync.OnceValue(func() *tables {
	t := &tables{}
	for _, f := range firstNames {
		for _, l := range lastNames {
			t.humans = append(t.humans, f+"."+l)
			t.emails = append(t.emails, f+"."+l+"@example.com")
		}
	}
	for _, th := range svcThings {
		for _, r := range svcRoles {
			t.svc = append(t.svc, "svc-"+th+"-"+r)
		}
	}
	for _, r := range ciRepos {
		for _, s := range ciSuffixes {
			t.ci = append(t.ci, "ci-"+r+s)
			t.repoTag = append(t.repoTag, company+"/"+r+s)
		}
	}
	for _, v := range vendors {
		t.legacy = append(t.legacy, "svc-legacy-"+v)
	}
	return t
})
