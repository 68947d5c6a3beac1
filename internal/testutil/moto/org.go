package moto

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
)

// CreateAccount creates a member account through the Organizations API and
// waits until it exists (CreateAccount is asynchronous), returning its ID.
func CreateAccount(ctx context.Context, org *organizations.Client, name, email string) (string, error) {
	out, err := org.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String(name), Email: aws.String(email)})
	if err != nil {
		return "", fmt.Errorf("create account %s: %w", name, err)
	}
	status := out.CreateAccountStatus
	for range 50 {
		switch status.State {
		case orgtypes.CreateAccountStateSucceeded:
			return aws.ToString(status.AccountId), nil
		case orgtypes.CreateAccountStateFailed:
			return "", fmt.Errorf("create account %s: %s", name, status.FailureReason)
		}
		time.Sleep(20 * time.Millisecond)
		st, err := org.DescribeCreateAccountStatus(ctx, &organizations.DescribeCreateAccountStatusInput{CreateAccountRequestId: status.Id})
		if err != nil {
			return "", fmt.Errorf("describe create account status %s: %w", name, err)
		}
		status = st.CreateAccountStatus
	}
	return "", errors.New("create account " + name + ": still not done")
}
