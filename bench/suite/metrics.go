package suite

import (
	"strconv"
	"strings"
	"time"
)

// scrape reads Prometheus text from url into series → value (the series is
// the name with its labels, as written).
func scrape(url string) (map[string]float64, error) {
	status, body, _, err := httpDo("GET", url, nil, nil, 5*time.Second)
	if err != nil {
		return nil, err
	}
	if status != 200 {
		return nil, &httpStatusError{status: status, body: string(body)}
	}
	return parseProm(string(body)), nil
}

type httpStatusError struct {
	status int
	body   string
}

func (e *httpStatusError) Error() string {
	return "HTTP " + strconv.Itoa(e.status) + ": " + clipStr(e.body, 200)
}

func parseProm(text string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i <= 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out
}

// sumPrefix adds every series whose name (before labels) is name.
func sumName(m map[string]float64, name string) float64 {
	var s float64
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			s += v
		}
	}
	return s
}

func clipStr(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
