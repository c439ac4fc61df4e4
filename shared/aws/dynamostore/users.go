package dynamostore

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/iotwatch/iotwatch/shared/contract/table"
	"github.com/iotwatch/iotwatch/shared/domain/user"
	"github.com/iotwatch/iotwatch/shared/service/evaluator"
)

var _ evaluator.Users = (*Store)(nil)

func userItem(u user.User) map[string]types.AttributeValue {
	item := key(table.UsersPK, u.ID)
	for name, v := range map[string]string{"timezone": u.ZoneName, "quiet_hours": u.Quiet.String(), "quiet_min_severity": string(u.QuietMinSeverity), "units": string(u.Units)} {
		if v != "" {
			item[name] = &types.AttributeValueMemberS{Value: v}
		}
	}
	return item
}

// decodeUser reads a user item back through the CSV's own validation (a hand-edited item that
// is not valid is an error naming the user).
func decodeUser(item map[string]types.AttributeValue) (user.User, error) {
	id := str(item[SK])
	line := strings.Join([]string{csvCell(id), csvCell(str(item["timezone"])), csvCell(str(item["quiet_hours"])), csvCell(str(item["quiet_min_severity"])), csvCell(str(item["units"]))}, ",")
	users, err := user.ParseCSV(strings.NewReader(strings.Join(user.Header, ",")+"\n"+line+"\n"), "user "+id)
	if err != nil {
		return user.User{}, err
	}
	return users[0], nil
}

func csvCell(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// PutUsers writes users' preferences (validated whole by the caller) with BatchWriteItem.
func (s *Store) PutUsers(ctx context.Context, users []user.User) error {
	reqs := make([]types.WriteRequest, 0, len(users))
	for _, u := range users {
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: userItem(u)}})
	}
	return s.batchWrite(ctx, reqs)
}

// ListUsers returns every user's preferences, by id (one Query of the users' partition).
func (s *Store) ListUsers(ctx context.Context) ([]user.User, error) {
	var out []user.User
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": PK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: table.UsersPK}},
	}
	for {
		res, err := s.client.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("listing users: %w", err)
		}
		for _, item := range res.Items {
			u, err := decodeUser(item)
			if err != nil {
				return nil, err
			}
			out = append(out, u)
		}
		if len(res.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}

// LoadUsers reads the preferences of the given users with BatchGetItem (batchGet); a user with
// none is absent from the result.
func (s *Store) LoadUsers(ctx context.Context, ids []string) (map[string]user.User, error) {
	out := make(map[string]user.User, len(ids))
	keys := make([]map[string]types.AttributeValue, len(ids))
	for i, id := range ids {
		keys[i] = key(table.UsersPK, id)
	}
	err := s.batchGet(ctx, keys, false, "users", func(item map[string]types.AttributeValue) error {
		u, err := decodeUser(item)
		if err != nil {
			return err
		}
		out[u.ID] = u
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteUser removes a user's preferences; deleting what is not there is an error.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	out, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: key(table.UsersPK, id), ReturnValues: types.ReturnValueAllOld})
	if err != nil {
		return fmt.Errorf("deleting user %s: %w", id, err)
	}
	if len(out.Attributes) == 0 {
		return fmt.Errorf("user %s has no preferences stored", id)
	}
	return nil
}
