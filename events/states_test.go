package events

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRegions(t *testing.T) {
	want := []Region{RegionAfrica, RegionAmericas, RegionAsia, RegionEurope, RegionMiddleEast, RegionPacific}
	got := Regions()
	assert.Equal(t, want, got)

	got[0] = "Atlantis"
	assert.Equal(t, RegionAfrica, Regions()[0], "Regions must return a copy")
}

func TestStatesTable(t *testing.T) {
	iso3Pattern := regexp.MustCompile(`^[A-Z]{3}$`)
	regions := make(map[Region]bool)
	for _, r := range Regions() {
		regions[r] = true
	}

	all := States()
	// 193 members of the United Nations, 2 observer States (Holy See,
	// State of Palestine), Cook Islands and Niue.
	require.Len(t, all, 197)

	codes := make(map[string]bool)
	names := make(map[string]string)
	for i, c := range all {
		assert.Regexp(t, iso3Pattern, c.ISO3, "code of %+v", c)
		assert.False(t, codes[c.ISO3], "duplicate code %s", c.ISO3)
		codes[c.ISO3] = true
		if i > 0 {
			assert.Less(t, all[i-1].ISO3, c.ISO3, "States must be sorted by ISO3")
		}

		key := normalizeStateName(c.Name)
		assert.NotEmpty(t, c.Name, "name of %s", c.ISO3)
		assert.Empty(t, names[key], "name %q of %s already used by %s", c.Name, c.ISO3, names[key])
		names[key] = c.ISO3

		assert.True(t, regions[c.Region], "region %q of %s", c.Region, c.ISO3)

		got, ok := LookupState(c.ISO3)
		assert.True(t, ok, "LookupState(%q)", c.ISO3)
		assert.Equal(t, c, got, "LookupState(%q)", c.ISO3)

		got, ok = StateByName(c.Name)
		assert.True(t, ok, "StateByName(%q)", c.Name)
		assert.Equal(t, c, got, "StateByName(%q)", c.Name)
	}

	// Every region holds at least one State.
	perRegion := make(map[Region]int)
	for _, c := range all {
		perRegion[c.Region]++
	}
	for r := range regions {
		assert.Positive(t, perRegion[r], "no State in region %q", r)
	}

	// Kosovo has no ISO 3166-1 code and is not in the table.
	_, ok := LookupState("XKX")
	assert.False(t, ok)
	_, ok = StateByName("Kosovo")
	assert.False(t, ok)
}

func TestStatesReturnsCopy(t *testing.T) {
	all := States()
	first := all[0]
	all[0] = Country{ISO3: "ZZZ", Name: "Nowhere", Region: RegionPacific}
	assert.Equal(t, first, States()[0])
}

// seedRegionList is one cell of table "III. Universalization" in the
// appendix of the final report of the Third Meeting of States Parties
// (CCM/MSP/2012/5): a region, the count in its header, and the names listed.
type seedRegionList struct {
	region Region
	count  int
	names  []string
}

// seedStatesParties is the left column of the table: "75 States Parties
// (by region)". The names are copied from the report as printed.
var seedStatesParties = []seedRegionList{
	{RegionAfrica, 22, []string{
		"Botswana", "Burkina Faso", "Burundi", "Cameroon", "Cape Verde", "Comoros", "Côte d'Ivoire",
		"Ghana", "Guinea-Bissau", "Lesotho", "Malawi", "Mali", "Mauritania", "Mozambique", "Niger",
		"Senegal", "Seychelles", "Sierra Leone", "Togo", "Tunisia", "Swaziland", "Zambia",
	}},
	{RegionAmericas, 15, []string{
		"Antigua and Barbuda", "Chile", "Costa Rica", "Dominican Republic", "El Salvador", "Ecuador",
		"Grenada", "Guatemala", "Honduras", "Mexico", "Nicaragua", "Panama", "Trinidad and Tobago",
		"Saint Vincent and the Grenadines", "Uruguay",
	}},
	{RegionAsia, 3, []string{
		"Afghanistan", "Japan", "Lao People's Democratic Republic",
	}},
	{RegionEurope, 30, []string{
		"Albania", "Austria", "Belgium", "Bosnia and Herzegovina", "Bulgaria", "Croatia",
		"Czech Republic", "Denmark", "France", "Germany", "Holy See", "Hungary", "Ireland", "Italy",
		"Lithuania", "Malta", "Moldova", "Monaco", "Montenegro", "Netherlands", "Luxembourg", "Norway",
		"Portugal", "San Marino", "Slovenia", "Spain", "Sweden", "Switzerland",
		"The former Yugoslav Republic of Macedonia",
		"United Kingdom of Great Britain and Northern Ireland",
	}},
	{RegionMiddleEast, 1, []string{
		"Lebanon",
	}},
	{RegionPacific, 4, []string{
		"Cook Islands", "Fiji", "New Zealand", "Samoa",
	}},
}

// seedSignatories is the right column of the table: "36 Signatories". The
// report's header says "Africa (21)" but lists 20 names, and only 20 make
// the stated total of 36, so the count checked here is 20.
var seedSignatories = []seedRegionList{
	{RegionAfrica, 20, []string{
		"Angola", "Benin", "Central African Republic", "Chad", "Congo",
		"Democratic Republic of the Congo", "Djibouti", "Gambia", "Guinea", "Kenya", "Liberia",
		"Madagascar", "Namibia", "Nigeria", "Rwanda", "Sao Tome and Principe", "Somalia",
		"South Africa", "Uganda", "United Republic of Tanzania",
	}},
	{RegionAmericas, 7, []string{
		"Bolivia (Plurinational State of)", "Canada", "Colombia", "Haiti", "Jamaica", "Paraguay", "Peru",
	}},
	{RegionAsia, 2, []string{
		"Indonesia", "Philippines",
	}},
	{RegionEurope, 3, []string{
		"Cyprus", "Iceland", "Liechtenstein",
	}},
	{RegionMiddleEast, 1, []string{
		"Iraq",
	}},
	{RegionPacific, 3, []string{
		"Australia", "Nauru", "Palau",
	}},
}

func TestStateByNameSeedAppendix(t *testing.T) {
	tests := []struct {
		column string
		total  int
		lists  []seedRegionList
	}{
		{"States Parties", 75, seedStatesParties},
		{"Signatories", 36, seedSignatories},
	}
	seen := make(map[string]string)
	for _, tt := range tests {
		t.Run(tt.column, func(t *testing.T) {
			total := 0
			for i, list := range tt.lists {
				assert.Equal(t, Regions()[i], list.region, "region order of the report's table")
				assert.Len(t, list.names, list.count, "%s in %s", tt.column, list.region)
				total += len(list.names)
				for _, name := range list.names {
					c, ok := StateByName(name)
					if !assert.True(t, ok, "StateByName(%q)", name) {
						continue
					}
					assert.Equal(t, list.region, c.Region, "region of %q (%s)", name, c.ISO3)
					assert.Empty(t, seen[c.ISO3], "%q and %q both resolve to %s", name, seen[c.ISO3], c.ISO3)
					seen[c.ISO3] = name
				}
			}
			assert.Equal(t, tt.total, total)
		})
	}
}

// readStateCSV reads a CSV file from testdata into one map per row, keyed by
// the header's column names.
func readStateCSV(t *testing.T, name string) []map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	require.NoError(t, err)
	defer f.Close()

	records, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.NotEmpty(t, records, "%s has no header", name)

	header := records[0]
	rows := make([]map[string]string, 0, len(records)-1)
	for _, rec := range records[1:] {
		row := make(map[string]string, len(header))
		for i, col := range header {
			row[col] = rec[i]
		}
		rows = append(rows, row)
	}
	return rows
}

// TestStatesCSV checks the State lists kept with the Convention's data
// (testdata/states.csv: the 75 States Parties of 2012; testdata/other_states.csv:
// signatories, observers and other States the report names) against the table.
func TestStatesCSV(t *testing.T) {
	tests := []struct {
		file      string
		regionCol string
		rows      int
	}{
		{"states.csv", "region", 75},
		{"other_states.csv", "region_in_seed", 71},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			rows := readStateCSV(t, tt.file)
			assert.Len(t, rows, tt.rows)
			for _, row := range rows {
				iso3, name, region := row["iso3"], row["name_in_seed"], Region(row[tt.regionCol])

				c, ok := LookupState(iso3)
				if !assert.True(t, ok, "LookupState(%q) for %q", iso3, name) {
					continue
				}
				if region != "" {
					assert.Equal(t, region, c.Region, "region of %s", iso3)
				}

				byName, ok := StateByName(name)
				if assert.True(t, ok, "StateByName(%q)", name) {
					assert.Equal(t, iso3, byName.ISO3, "StateByName(%q)", name)
				}
			}
		})
	}
}

func TestStateByNameSpellings(t *testing.T) {
	tests := []struct {
		name string
		want string
	}{
		// Current names.
		{"Eswatini", "SWZ"},
		{"North Macedonia", "MKD"},
		{"Cabo Verde", "CPV"},
		{"Czechia", "CZE"},
		{"Türkiye", "TUR"},
		{"State of Palestine", "PSE"},
		{"Niue", "NIU"},
		// Spellings used in the report and the data files.
		{"Lao People's Democratic Republic", "LAO"},
		{"Lao PDR", "LAO"},
		{"The former Yugoslav Republic of Macedonia", "MKD"},
		{"Swaziland", "SWZ"},
		{"Cape Verde", "CPV"},
		{"Czech Republic", "CZE"},
		{"Moldova", "MDA"},
		{"Republic of Moldova", "MDA"},
		{"Luxemburg", "LUX"},
		{"Luxembourg", "LUX"},
		{"Bolivia (Plurinational State of)", "BOL"},
		{"United Republic of Tanzania", "TZA"},
		{"Tanzania", "TZA"},
		{"Democratic Republic of Congo", "COD"},
		{"Democratic Republic of the Congo", "COD"},
		{"Congo", "COG"},
		{"United Kingdom of Great Britain and Northern Ireland", "GBR"},
		{"Holy See", "VAT"},
		{"Viet Nam", "VNM"},
		{"Turkey", "TUR"},
		{"Saint Vincent and the Grenadines", "VCT"},
		{"Sao Tome and Principe", "STP"},
		{"Netherlands", "NLD"},
		// ISO 3166-1 English short names.
		{"Korea, Republic of", "KOR"},
		{"Congo, The Democratic Republic of the", "COD"},
		{"Holy See (Vatican City State)", "VAT"},
		{"Moldova, Republic of", "MDA"},
		// Common names.
		{"Vietnam", "VNM"},
		{"Bolivia", "BOL"},
		{"Iran", "IRN"},
		{"Syria", "SYR"},
		{"Russia", "RUS"},
		{"United States", "USA"},
		{"United Kingdom", "GBR"},
		{"South Korea", "KOR"},
		{"North Korea", "PRK"},
		{"Laos", "LAO"},
		{"Palestine", "PSE"},
		// Normalisation: accents, apostrophes, case, spaces, a leading "The ".
		{"Côte d'Ivoire", "CIV"},
		{"Cote d'Ivoire", "CIV"},
		{"Côte d’Ivoire", "CIV"},
		{"Co\u0302te d'Ivoire", "CIV"},
		{"COTE D'IVOIRE", "CIV"},
		{"Lao People’s Democratic Republic", "LAO"},
		{"São Tomé and Príncipe", "STP"},
		{"Turkiye", "TUR"},
		{"Cameroon ", "CMR"},
		{"  saint   lucia\t", "LCA"},
		{"The Gambia", "GMB"},
		{"the bahamas", "BHS"},
		{"former Yugoslav Republic of Macedonia", "MKD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := StateByName(tt.name)
			require.True(t, ok, "StateByName(%q)", tt.name)
			assert.Equal(t, tt.want, c.ISO3, "StateByName(%q)", tt.name)
		})
	}
}

func TestStateUnknown(t *testing.T) {
	codes := []string{"", "afg", "Afg", " AFG", "AFG ", "AF", "AFGH", "XKX", "ZZZ", "ANT", "YUG"}
	for _, code := range codes {
		_, ok := LookupState(code)
		assert.False(t, ok, "LookupState(%q)", code)
	}

	names := []string{"", "  ", "The", "The ", "Kosovo", "Atlantis", "Taiwan", "Yugoslavia",
		"Western Sahara", "Greenland", "AFG", "Korea", "Guinea Bissau Republic"}
	for _, name := range names {
		_, ok := StateByName(name)
		assert.False(t, ok, "StateByName(%q)", name)
	}
}
