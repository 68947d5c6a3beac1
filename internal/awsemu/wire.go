package awsemu

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Wire encodings: the Query protocol's XML envelopes and the JSON 1.1
// protocol, each with AWS's error shape.

const (
	protoQuery = iota
	protoJSON
)

var namespaces = map[string]string{
	"iam": "https://iam.amazonaws.com/doc/2010-05-08/",
	"sts": "https://sts.amazonaws.com/doc/2011-06-15/",
}

// apiError is an AWS error as a service sends it.
type apiError struct {
	status int
	code   string
	msg    string
	reason string // Organizations InvalidInputException Reason
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// isoTime marshals as IAM and STS do: ISO 8601 in whole seconds, UTC.
type isoTime time.Time

func (t isoTime) MarshalText() ([]byte, error) {
	return []byte(time.Time(t).UTC().Format("2006-01-02T15:04:05Z")), nil
}

// epochTime marshals as the JSON protocols do: seconds since the epoch.
type epochTime time.Time

func (t epochTime) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	return []byte(strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64)), nil
}

// members is a Query-protocol list: <Name><member>…</member></Name>, written
// even when empty, as AWS does.
type members[T any] []T

func (m members[T]) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	for _, v := range m {
		if err := e.EncodeElement(v, xml.StartElement{Name: xml.Name{Local: "member"}}); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

// summaryMap is IAM's <SummaryMap><entry><key/><value/></entry></SummaryMap>.
type summaryMap []summaryEntry

type summaryEntry struct {
	Key   string `xml:"key"`
	Value int    `xml:"value"`
}

func (m summaryMap) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	for _, v := range m {
		if err := e.EncodeElement(v, xml.StartElement{Name: xml.Name{Local: "entry"}}); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

func writeQueryResult(w http.ResponseWriter, service, op, reqID string, result any) {
	var buf bytes.Buffer
	buf.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	fmt.Fprintf(&buf, `<%sResponse xmlns="%s">`, op, namespaces[service])
	if result != nil {
		enc := xml.NewEncoder(&buf)
		if err := enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: op + "Result"}}); err != nil {
			writeQueryError(w, service, reqID, errorf(500, "ServiceFailure", "encode response: %v", err))
			return
		}
		enc.Close()
	}
	fmt.Fprintf(&buf, `<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>`, reqID, op)
	h := w.Header()
	h.Set("Content-Type", "text/xml")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("x-amzn-RequestId", reqID)
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}

type queryErrorBody struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Type      string   `xml:"Error>Type"`
	Code      string   `xml:"Error>Code"`
	Message   string   `xml:"Error>Message"`
	RequestID string   `xml:"RequestId"`
}

func writeQueryError(w http.ResponseWriter, service, reqID string, e *apiError) {
	typ := "Sender"
	if e.status >= 500 {
		typ = "Receiver"
	}
	ns := namespaces[service]
	if ns == "" {
		ns = namespaces["iam"]
	}
	body, _ := xml.Marshal(queryErrorBody{Xmlns: ns, Type: typ, Code: e.code, Message: e.msg, RequestID: reqID})
	h := w.Header()
	h.Set("Content-Type", "text/xml")
	h.Set("Content-Length", strconv.Itoa(len(body)+len(xml.Header)))
	h.Set("x-amzn-RequestId", reqID)
	w.WriteHeader(e.status)
	w.Write([]byte(xml.Header))
	w.Write(body)
}

func writeJSONResult(w http.ResponseWriter, reqID string, result any) {
	body, err := json.Marshal(result)
	if err != nil {
		writeJSONError(w, reqID, errorf(500, "ServiceException", "encode response: %v", err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.1")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("x-amzn-RequestId", reqID)
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

func writeJSONError(w http.ResponseWriter, reqID string, e *apiError) {
	m := map[string]string{"__type": e.code, "Message": e.msg}
	if e.reason != "" {
		m["Reason"] = e.reason
	}
	body, _ := json.Marshal(m)
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.1")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("x-amzn-RequestId", reqID)
	h.Set("X-Amzn-ErrorType", e.code)
	w.WriteHeader(e.status)
	w.Write(body)
}

// clampInt keeps float conversions of user input from overflowing.
func clampInt(f float64) int {
	if f > math.MaxInt32 {
		return math.MaxInt32
	}
	if f < math.MinInt32 {
		return math.MinInt32
	}
	return int(f)
}
