package suite

import "testing"

func TestParseProm(t *testing.T) {
	t.Parallel()
	m := parseProm(`# HELP x
go_memstats_mallocs_total 2297
gateway_overhead_seconds_bucket{le="0.0001"} 12
gateway_overhead_seconds_sum 0.0042
gateway_requests_total{provider="openai",model="openai/gpt-4o-mini",status="200"} 10
gateway_requests_total{provider="openai",model="openai/gpt-4o-mini",status="502"} 2
process_resident_memory_bytes 1.0227712e+07
`)
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{name: "mallocs", got: m["go_memstats_mallocs_total"], want: 2297},
		{name: "float", got: m["process_resident_memory_bytes"], want: 10227712},
		{name: "sum-labels", got: sumName(m, "gateway_requests_total"), want: 12},
		{name: "no-prefix-confusion", got: sumName(m, "gateway_overhead_seconds"), want: 0},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}
