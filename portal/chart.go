package portal

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// A chart is a server-made SVG line chart of one observation code over
// time. The template draws it from these numbers (html/template escapes
// every text); CSS classes style it, since the Content-Security-Policy
// allows no inline style.
type chart struct {
	Title  string
	Unit   string
	Width  int
	Height int
	Left   int // the plot's left and right edges
	Right  int
	Line   string // polyline points
	Band   *chartBand
	Points []chartPoint
	YTicks []chartTick
	XTicks []chartTick
	Desc   string // the values, for screen readers
}

type chartPoint struct {
	X, Y  float64
	Label string
	Flag  string
}

// chartBand is the reference range, shaded behind the line.
type chartBand struct {
	X, Y, W, H float64
	Label      string
}

type chartTick struct {
	X, Y   float64
	Label  string
	Anchor string // SVG text-anchor: start, middle or end
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH           = 480, 220
	padLeft, padRight        = 64, 16
	padTop, padBottom        = 16, 44
	maxChartPoints           = 200
	minChartSpan             = 1.0
	chartDay                 = 24 * time.Hour
	chartDateLayout          = "2 Jan"
	chartDateLayoutWithYears = "2 Jan 06"
)

// charts makes one chart per observation code among cards that have a
// number, in the order their codes first appear.
func charts(cards []card) []chart {
	bySeries := map[string][]card{}
	var order []string
	for _, c := range cards {
		if c.series == "" {
			continue
		}
		if _, ok := bySeries[c.series]; !ok {
			order = append(order, c.series)
		}
		bySeries[c.series] = append(bySeries[c.series], c)
	}
	out := make([]chart, 0, len(order))
	for _, s := range order {
		out = append(out, chartOf(bySeries[s]))
	}
	return out
}

// chartOf draws one series of cards of one code, oldest first.
func chartOf(cs []card) chart {
	slices.SortFunc(cs, func(a, b card) int { return a.Date.Compare(b.Date) })
	if len(cs) > maxChartPoints {
		cs = cs[len(cs)-maxChartPoints:]
	}
	ch := chart{Title: cs[0].Title, Unit: cs[0].unit, Width: chartW, Height: chartH, Left: padLeft, Right: chartW - padRight}
	lo, hi := cs[0].number, cs[0].number
	for _, c := range cs {
		lo, hi = math.Min(lo, c.number), math.Max(hi, c.number)
	}
	ref := cs[len(cs)-1] // the latest range is the one drawn
	if ref.hasRange {
		lo, hi = math.Min(lo, ref.low), math.Max(hi, ref.high)
	}
	if hi-lo < minChartSpan {
		lo, hi = lo-minChartSpan, hi+minChartSpan
	}
	pad := (hi - lo) / 10
	lo, hi = lo-pad, hi+pad
	t0, t1 := cs[0].Date, cs[len(cs)-1].Date
	if t1.Sub(t0) < chartDay {
		t0, t1 = t0.Add(-chartDay/2), t1.Add(chartDay/2)
	}
	x := func(t time.Time) float64 {
		return padLeft + float64(t.Sub(t0))/float64(t1.Sub(t0))*(chartW-padLeft-padRight)
	}
	y := func(v float64) float64 { return padTop + (hi-v)/(hi-lo)*(chartH-padTop-padBottom) }
	layout := chartDateLayout
	if t0.Year() != t1.Year() {
		layout = chartDateLayoutWithYears
	}
	if ref.hasRange {
		ch.Band = &chartBand{X: padLeft, Y: round1(y(ref.high)), W: chartW - padLeft - padRight,
			H: round1(y(ref.low) - y(ref.high)), Label: "Reference range " + ref.Range}
	}
	var line, desc []string
	for _, c := range cs {
		p := chartPoint{X: round1(x(c.Date)), Y: round1(y(c.number)), Flag: c.Flag,
			Label: fmt.Sprintf("%s: %s", c.Date.Format("2 Jan 2006"), c.Value)}
		ch.Points = append(ch.Points, p)
		line = append(line, fmt.Sprintf("%g,%g", p.X, p.Y))
		desc = append(desc, p.Label)
	}
	ch.Line = strings.Join(line, " ")
	ch.Desc = strings.Join(desc, "; ")
	for i := range 3 {
		v := lo + (hi-lo)*float64(i)/2
		ch.YTicks = append(ch.YTicks, chartTick{X: padLeft - 6, Y: round1(y(v)), Label: formatNumber(math.Round(v*10) / 10), Anchor: "end"})
	}
	first, last := cs[0].Date, cs[len(cs)-1].Date
	if len(cs) == 1 {
		ch.XTicks = []chartTick{{X: round1(x(first)), Y: chartH - padBottom + 24, Label: first.Format(layout), Anchor: "middle"}}
	} else {
		ch.XTicks = []chartTick{{X: round1(x(first)), Y: chartH - padBottom + 24, Label: first.Format(layout), Anchor: "start"},
			{X: round1(x(last)), Y: chartH - padBottom + 24, Label: last.Format(layout), Anchor: "end"}}
	}
	return ch
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }
