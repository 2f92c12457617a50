// Package route is GET /api/weather?city=..: the current weather for a city,
// fetched from the upstream in WEATHER_URL (wttr.in's JSON format). The app
// may reach that upstream only because wasmroute.toml lists it in
// allowed_outbound_hosts; any other address fails with a connection error.
package route

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	_ "github.com/stealthrocket/net/http"      // outbound HTTP from WebAssembly
	_ "golang.org/x/crypto/x509roots/fallback" // root certificates: a guest has no files

	"github.com/wasmroute/wasmroute/guest"
)

// report is the part of wttr.in's format=j1 answer the route uses.
type report struct {
	CurrentCondition []struct {
		TempC       string `json:"temp_C"`
		WeatherDesc []struct {
			Value string `json:"value"`
		} `json:"weatherDesc"`
	} `json:"current_condition"`
}

// Weather is the route's answer.
type Weather struct {
	City        string  `json:"city"`
	TempC       float64 `json:"tempC"`
	Description string  `json:"description"`
}

// GET answers {"city":"Paris","tempC":12,"description":"Sunny"}, 400 without
// a city, 404 for a city the upstream does not know, and 502 when the
// upstream cannot be reached or answers nonsense.
func GET(w http.ResponseWriter, r *http.Request) {
	city := r.URL.Query().Get("city")
	if city == "" {
		guest.Error(w, http.StatusBadRequest, "city is required")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	u := os.Getenv("WEATHER_URL") + "/" + url.PathEscape(city) + "?format=j1"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		guest.Error(w, http.StatusInternalServerError, "bad WEATHER_URL")
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "weather upstream:", err)
		guest.Error(w, http.StatusBadGateway, "weather upstream unavailable")
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		guest.Error(w, http.StatusNotFound, "city not found")
		return
	}
	var rep report
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&rep) != nil ||
		len(rep.CurrentCondition) == 0 {
		guest.Error(w, http.StatusBadGateway, "weather upstream answered "+resp.Status)
		return
	}
	cur := rep.CurrentCondition[0]
	temp, _ := strconv.ParseFloat(cur.TempC, 64)
	out := Weather{City: city, TempC: temp}
	if len(cur.WeatherDesc) > 0 {
		out.Description = cur.WeatherDesc[0].Value
	}
	guest.JSON(w, http.StatusOK, out)
}
