package snsalerts

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/iotwatch/iotwatch/shared/domain/alert"
	"github.com/iotwatch/iotwatch/shared/domain/threshold"
)

// Subscriber is the part of the SNS API subscribing uses.
type Subscriber interface {
	Subscribe(ctx context.Context, in *sns.SubscribeInput, opts ...func(*sns.Options)) (*sns.SubscribeOutput, error)
}

// Subscription says who gets which alerts, and how.
type Subscription struct {
	UserID     string
	Protocol   string   // email, sms (or sqs, lambda, https for integrations)
	Endpoint   string   // the address, phone number (E.164) or ARN/URL
	Severities []string // empty: every severity
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
var email = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)

// FilterPolicy returns the subscription's filter policy: the user's alerts, of the severities,
// that are sent (not snoozed, not held for quiet hours), and digests; not the rows that record
// what people did.
func (s Subscription) FilterPolicy() (string, error) {
	if err := threshold.ValidUserID(s.UserID); err != nil {
		return "", fmt.Errorf("user: %w", err)
	}
	p := map[string][]string{"user_id": {s.UserID}, "suppressed": {alert.NotSuppressed}}
	for _, k := range alert.Notified {
		p["kind"] = append(p["kind"], string(k))
	}
	for _, sev := range s.Severities {
		if sev != "WARNING" && sev != "VIOLATION" {
			return "", fmt.Errorf("severity %q: want WARNING or VIOLATION", sev)
		}
		p["severity"] = append(p["severity"], sev)
	}
	b, err := json.Marshal(p)
	return string(b), err
}

// Subscribe subscribes the endpoint to the topic with the user's filter policy and returns the
// subscription ARN ("pending confirmation" until an email is confirmed).
func Subscribe(ctx context.Context, c Subscriber, topicARN string, s Subscription) (string, error) {
	switch s.Protocol {
	case "email":
		if !email.MatchString(s.Endpoint) {
			return "", fmt.Errorf("email %q is not an address", s.Endpoint)
		}
	case "sms":
		if !e164.MatchString(s.Endpoint) {
			return "", fmt.Errorf("phone number %q is not in E.164 form (+ and 7 to 15 digits)", s.Endpoint)
		}
	}
	policy, err := s.FilterPolicy()
	if err != nil {
		return "", err
	}
	out, err := c.Subscribe(ctx, &sns.SubscribeInput{
		TopicArn:              aws.String(topicARN),
		Protocol:              aws.String(s.Protocol),
		Endpoint:              aws.String(s.Endpoint),
		Attributes:            map[string]string{"FilterPolicy": policy, "FilterPolicyScope": "MessageAttributes"},
		ReturnSubscriptionArn: true,
	})
	if err != nil {
		return "", fmt.Errorf("subscribing %s to %s: %w", s.Endpoint, topicARN, err)
	}
	return aws.ToString(out.SubscriptionArn), nil
}
