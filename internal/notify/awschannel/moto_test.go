package awschannel_test

import (
	"encoding/json"
	"net/http"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/keywarden/keywarden/internal/testutil/moto"
)

func TestMain(m *testing.M) {
	code := m.Run()
	moto.StopShared()
	os.Exit(code)
}

const region = "us-east-1"

// awsConfig is a configuration for url: static credentials, us-east-1, no
// shared config files; attempts 0 keeps the SDK's default retryer.
func awsConfig(t *testing.T, url string, attempts int) aws.Config {
	t.Helper()
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", "")),
		config.WithBaseEndpoint(url),
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
	}
	if attempts > 0 {
		opts = append(opts, config.WithRetryMaxAttempts(attempts))
	}
	cfg, err := config.LoadDefaultConfig(t.Context(), opts...)
	if err != nil {
		t.Fatalf("load AWS config: %v", err)
	}
	return cfg
}

// motoSESMessage is a message SES accepted, as moto's /moto-api/data.json
// shows it (moto.ses.models.Message: moto keeps one body, the HTML part
// when there is one, otherwise the text).
type motoSESMessage struct {
	ID           string              `json:"id"`
	Source       string              `json:"source"`
	Subject      string              `json:"subject"`
	Body         string              `json:"body"`
	Destinations map[string][]string `json:"destinations"`
}

// motoSESMessages reads the messages SES has accepted since the last reset
// from moto's model dump, GET /moto-api/data.json, which lists every
// tracked model instance by service and class (here ses.Message). The
// instances are those of every account and region; the tests use one.
func motoSESMessages(t *testing.T, url string) []motoSESMessage {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url+"/moto-api/data.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("moto data.json: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("moto data.json: HTTP %d", resp.StatusCode)
	}
	var data struct {
		SES struct {
			Message []motoSESMessage `json:"Message"`
		} `json:"ses"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&data); err != nil {
		t.Fatalf("moto data.json: %v", err)
	}
	return data.SES.Message
}
