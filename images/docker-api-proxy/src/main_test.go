package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDecision(t *testing.T) {
	allowedCases := []struct{ method, target string }{
		{"GET", "/_ping"}, {"HEAD", "/_ping"}, {"GET", "/v1.45/version"}, {"GET", "/info"},
		{"GET", "/v1.45/containers/4b307d431d71/json"}, {"GET", "/containers/payment-order-service/json"},
	}
	for _, c := range allowedCases {
		if _, _, reason := Decision(httptest.NewRequest(c.method, c.target, nil)); reason != "" {
			t.Errorf("%s %s refused: %s", c.method, c.target, reason)
		}
	}
	refused := []struct{ method, target string }{
		{"POST", "/containers/create"}, {"POST", "/v1.45/containers/x/exec"}, {"GET", "/containers/x/exec"},
		{"GET", "/containers/json"}, {"GET", "/containers/x/archive"}, {"GET", "/containers/x/export"},
		{"GET", "/containers/x/logs"}, {"GET", "/containers/x/json?size=1"}, {"DELETE", "/containers/x/json"},
		{"GET", "/containers/../json"}, {"GET", "/containers/a%2F..%2Fexec/json"}, {"GET", "/images/json"},
		{"GET", "/v1.45/secrets"}, {"GET", "//info"}, {"GET", "/info/"}, {"PUT", "/info"},
	}
	for _, c := range refused {
		if _, _, reason := Decision(httptest.NewRequest(c.method, c.target, nil)); reason == "" {
			t.Errorf("%s %s allowed", c.method, c.target)
		}
	}
	upgrade := httptest.NewRequest("GET", "/_ping", nil)
	upgrade.Header.Set("Upgrade", "tcp")
	if _, _, reason := Decision(upgrade); reason == "" {
		t.Error("upgrade allowed")
	}
	body := httptest.NewRequest("GET", "/info", strings.NewReader("x"))
	if _, _, reason := Decision(body); reason == "" {
		t.Error("body allowed")
	}
}

func TestWithoutEnv(t *testing.T) {
	in := `{"Id":"x","Name":"/payment-a","Config":{"Env":["DB_PASSWORD=s3cret"],"Labels":{"a":"b"},"Image":"i"},"State":{"Pid":7}}`
	out, err := WithoutEnv([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "s3cret") || strings.Contains(string(out), "Env") {
		t.Fatalf("env left: %s", out)
	}
	var doc struct {
		Name   string
		Config struct {
			Labels map[string]string
			Image  string
		}
		State struct{ Pid int }
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Name != "/payment-a" || doc.Config.Labels["a"] != "b" || doc.Config.Image != "i" || doc.State.Pid != 7 {
		t.Fatalf("lost fields: %s", out)
	}
}

func TestRefusedAnswerIsDockersErrorShape(t *testing.T) {
	rec := httptest.NewRecorder()
	proxy{client: http.DefaultClient}.ServeHTTP(rec, httptest.NewRequest("POST", "/containers/create", nil))
	var body map[string]string
	if rec.Code != http.StatusForbidden || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body["message"] == "" {
		t.Fatalf("got %d %q", rec.Code, rec.Body.String())
	}
}
