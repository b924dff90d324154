package events

import (
	"fmt"
	"sort"
	"strings"
	"unicode"
)

// Region is a region grouping used by the Convention's reports.
//
// The six values are the groupings of the universalization table in the
// final report of the Third Meeting of States Parties (CCM/MSP/2012/5).
// docs/states.md gives the rule that places States the report does not list.
type Region string

// The regions, in the order the Convention's reports list them.
const (
	RegionAfrica     Region = "Africa"
	RegionAmericas   Region = "Americas"
	RegionAsia       Region = "Asia"
	RegionEurope     Region = "Europe"
	RegionMiddleEast Region = "Middle East"
	RegionPacific    Region = "Pacific"
)

// stateRegionOrder is the order of the regions in the report's table.
var stateRegionOrder = [...]Region{
	RegionAfrica,
	RegionAmericas,
	RegionAsia,
	RegionEurope,
	RegionMiddleEast,
	RegionPacific,
}

// Regions returns the six regions in the order the Convention's reports list
// them: Africa, Americas, Asia, Europe, Middle East, Pacific. The slice is a
// fresh copy that the caller may modify.
func Regions() []Region {
	return append([]Region(nil), stateRegionOrder[:]...)
}

// Country is one entry of the built-in table of States.
type Country struct {
	// ISO3 is the ISO 3166-1 alpha-3 code, in upper case.
	ISO3 string
	// Name is the short name the United Nations uses for the State.
	Name string
	// Region is the region grouping of the Convention's reports.
	Region Region
}

// LookupState returns the State with the given ISO 3166-1 alpha-3 code.
// The match is exact: the code must be in upper case, without surrounding
// spaces. The boolean is false when the code is not in the table.
func LookupState(iso3 string) (Country, bool) {
	c, ok := stateIndex.byISO3[iso3]
	return c, ok
}

// StateByName returns the State with the given name. It accepts the
// State's Name, its ISO 3166-1 English short name (such as "Korea, Republic
// of"), its common English name and the older or variant spellings found in
// the Convention's documents (for example "Swaziland", "Cape Verde", "The
// former Yugoslav Republic of Macedonia" or "Luxemburg"). The match
// ignores case, surrounding and repeated spaces, a leading "The ", accents
// (é and e match) and the kind of apostrophe (’ and ' match). The boolean is
// false when no State has that name.
func StateByName(name string) (Country, bool) {
	key := normalizeStateName(name)
	if key == "" {
		return Country{}, false
	}
	c, ok := stateIndex.byName[key]
	return c, ok
}

// States returns every entry of the table, sorted by ISO3. The slice is a
// fresh copy that the caller may modify.
func States() []Country {
	return append([]Country(nil), stateIndex.sorted...)
}

// stateEntry is a row of the table: a Country and the other names it is
// known by.
type stateEntry struct {
	country Country
	aliases []string
}

// stateRow builds one row of stateTable.
func stateRow(iso3, name string, region Region, aliases ...string) stateEntry {
	return stateEntry{country: Country{ISO3: iso3, Name: name, Region: region}, aliases: aliases}
}

// stateTable lists the 193 members of the United Nations, its two observer
// States, and the Cook Islands and Niue. Names follow the rule in
// docs/states.md: the United Nations short name, with an ASCII apostrophe.
var stateTable = [...]stateEntry{
	stateRow("AFG", "Afghanistan", RegionAsia),
	stateRow("ALB", "Albania", RegionEurope),
	stateRow("DZA", "Algeria", RegionAfrica),
	stateRow("AND", "Andorra", RegionEurope),
	stateRow("AGO", "Angola", RegionAfrica),
	stateRow("ATG", "Antigua and Barbuda", RegionAmericas),
	stateRow("ARG", "Argentina", RegionAmericas),
	stateRow("ARM", "Armenia", RegionEurope),
	stateRow("AUS", "Australia", RegionPacific),
	stateRow("AUT", "Austria", RegionEurope),
	stateRow("AZE", "Azerbaijan", RegionEurope),
	stateRow("BHS", "Bahamas", RegionAmericas),
	stateRow("BHR", "Bahrain", RegionMiddleEast),
	stateRow("BGD", "Bangladesh", RegionAsia),
	stateRow("BRB", "Barbados", RegionAmericas),
	stateRow("BLR", "Belarus", RegionEurope),
	stateRow("BEL", "Belgium", RegionEurope),
	stateRow("BLZ", "Belize", RegionAmericas),
	stateRow("BEN", "Benin", RegionAfrica),
	stateRow("BTN", "Bhutan", RegionAsia),
	stateRow("BOL", "Bolivia (Plurinational State of)", RegionAmericas, "Bolivia", "Plurinational State of Bolivia", "Bolivia, Plurinational State of"),
	stateRow("BIH", "Bosnia and Herzegovina", RegionEurope),
	stateRow("BWA", "Botswana", RegionAfrica),
	stateRow("BRA", "Brazil", RegionAmericas),
	stateRow("BRN", "Brunei Darussalam", RegionAsia, "Brunei"),
	stateRow("BGR", "Bulgaria", RegionEurope),
	stateRow("BFA", "Burkina Faso", RegionAfrica),
	stateRow("BDI", "Burundi", RegionAfrica),
	stateRow("CPV", "Cabo Verde", RegionAfrica, "Cape Verde"),
	stateRow("KHM", "Cambodia", RegionAsia),
	stateRow("CMR", "Cameroon", RegionAfrica),
	stateRow("CAN", "Canada", RegionAmericas),
	stateRow("CAF", "Central African Republic", RegionAfrica),
	stateRow("TCD", "Chad", RegionAfrica),
	stateRow("CHL", "Chile", RegionAmericas),
	stateRow("CHN", "China", RegionAsia),
	stateRow("COL", "Colombia", RegionAmericas),
	stateRow("COM", "Comoros", RegionAfrica),
	stateRow("COG", "Congo", RegionAfrica, "Republic of the Congo"),
	stateRow("CRI", "Costa Rica", RegionAmericas),
	stateRow("CIV", "Côte d'Ivoire", RegionAfrica, "Ivory Coast"),
	stateRow("HRV", "Croatia", RegionEurope),
	stateRow("CUB", "Cuba", RegionAmericas),
	stateRow("CYP", "Cyprus", RegionEurope),
	stateRow("CZE", "Czechia", RegionEurope, "Czech Republic"),
	stateRow("PRK", "Democratic People's Republic of Korea", RegionAsia, "North Korea", "Korea, Democratic People's Republic of"),
	stateRow("COD", "Democratic Republic of the Congo", RegionAfrica, "Democratic Republic of Congo", "DR Congo", "Congo, The Democratic Republic of the"),
	stateRow("DNK", "Denmark", RegionEurope),
	stateRow("DJI", "Djibouti", RegionAfrica),
	stateRow("DMA", "Dominica", RegionAmericas),
	stateRow("DOM", "Dominican Republic", RegionAmericas),
	stateRow("ECU", "Ecuador", RegionAmericas),
	stateRow("EGY", "Egypt", RegionAfrica),
	stateRow("SLV", "El Salvador", RegionAmericas),
	stateRow("GNQ", "Equatorial Guinea", RegionAfrica),
	stateRow("ERI", "Eritrea", RegionAfrica),
	stateRow("EST", "Estonia", RegionEurope),
	stateRow("SWZ", "Eswatini", RegionAfrica, "Swaziland", "Kingdom of Eswatini"),
	stateRow("ETH", "Ethiopia", RegionAfrica),
	stateRow("FJI", "Fiji", RegionPacific),
	stateRow("FIN", "Finland", RegionEurope),
	stateRow("FRA", "France", RegionEurope),
	stateRow("GAB", "Gabon", RegionAfrica),
	stateRow("GMB", "Gambia", RegionAfrica),
	stateRow("GEO", "Georgia", RegionEurope),
	stateRow("DEU", "Germany", RegionEurope),
	stateRow("GHA", "Ghana", RegionAfrica),
	stateRow("GRC", "Greece", RegionEurope),
	stateRow("GRD", "Grenada", RegionAmericas),
	stateRow("GTM", "Guatemala", RegionAmericas),
	stateRow("GIN", "Guinea", RegionAfrica),
	stateRow("GNB", "Guinea-Bissau", RegionAfrica),
	stateRow("GUY", "Guyana", RegionAmericas),
	stateRow("HTI", "Haiti", RegionAmericas),
	stateRow("HND", "Honduras", RegionAmericas),
	stateRow("HUN", "Hungary", RegionEurope),
	stateRow("ISL", "Iceland", RegionEurope),
	stateRow("IND", "India", RegionAsia),
	stateRow("IDN", "Indonesia", RegionAsia),
	stateRow("IRN", "Iran (Islamic Republic of)", RegionMiddleEast, "Iran", "Islamic Republic of Iran", "Iran, Islamic Republic of"),
	stateRow("IRQ", "Iraq", RegionMiddleEast),
	stateRow("IRL", "Ireland", RegionEurope),
	stateRow("ISR", "Israel", RegionMiddleEast),
	stateRow("ITA", "Italy", RegionEurope),
	stateRow("JAM", "Jamaica", RegionAmericas),
	stateRow("JPN", "Japan", RegionAsia),
	stateRow("JOR", "Jordan", RegionMiddleEast),
	stateRow("KAZ", "Kazakhstan", RegionAsia),
	stateRow("KEN", "Kenya", RegionAfrica),
	stateRow("KIR", "Kiribati", RegionPacific),
	stateRow("KWT", "Kuwait", RegionMiddleEast),
	stateRow("KGZ", "Kyrgyzstan", RegionAsia, "Kyrgyz Republic"),
	stateRow("LAO", "Lao People's Democratic Republic", RegionAsia, "Laos", "Lao PDR"),
	stateRow("LVA", "Latvia", RegionEurope),
	stateRow("LBN", "Lebanon", RegionMiddleEast),
	stateRow("LSO", "Lesotho", RegionAfrica),
	stateRow("LBR", "Liberia", RegionAfrica),
	stateRow("LBY", "Libya", RegionAfrica, "Libyan Arab Jamahiriya"),
	stateRow("LIE", "Liechtenstein", RegionEurope),
	stateRow("LTU", "Lithuania", RegionEurope),
	stateRow("LUX", "Luxembourg", RegionEurope, "Luxemburg"),
	stateRow("MDG", "Madagascar", RegionAfrica),
	stateRow("MWI", "Malawi", RegionAfrica),
	stateRow("MYS", "Malaysia", RegionAsia),
	stateRow("MDV", "Maldives", RegionAsia),
	stateRow("MLI", "Mali", RegionAfrica),
	stateRow("MLT", "Malta", RegionEurope),
	stateRow("MHL", "Marshall Islands", RegionPacific),
	stateRow("MRT", "Mauritania", RegionAfrica),
	stateRow("MUS", "Mauritius", RegionAfrica),
	stateRow("MEX", "Mexico", RegionAmericas),
	stateRow("FSM", "Micronesia (Federated States of)", RegionPacific, "Micronesia", "Federated States of Micronesia", "Micronesia, Federated States of"),
	stateRow("MCO", "Monaco", RegionEurope),
	stateRow("MNG", "Mongolia", RegionAsia),
	stateRow("MNE", "Montenegro", RegionEurope),
	stateRow("MAR", "Morocco", RegionAfrica),
	stateRow("MOZ", "Mozambique", RegionAfrica),
	stateRow("MMR", "Myanmar", RegionAsia, "Burma"),
	stateRow("NAM", "Namibia", RegionAfrica),
	stateRow("NRU", "Nauru", RegionPacific),
	stateRow("NPL", "Nepal", RegionAsia),
	stateRow("NLD", "Netherlands (Kingdom of the)", RegionEurope, "Netherlands", "Kingdom of the Netherlands"),
	stateRow("NZL", "New Zealand", RegionPacific),
	stateRow("NIC", "Nicaragua", RegionAmericas),
	stateRow("NER", "Niger", RegionAfrica),
	stateRow("NGA", "Nigeria", RegionAfrica),
	stateRow("MKD", "North Macedonia", RegionEurope, "The former Yugoslav Republic of Macedonia", "Republic of North Macedonia", "Macedonia"),
	stateRow("NOR", "Norway", RegionEurope),
	stateRow("OMN", "Oman", RegionMiddleEast),
	stateRow("PAK", "Pakistan", RegionAsia),
	stateRow("PLW", "Palau", RegionPacific),
	stateRow("PAN", "Panama", RegionAmericas),
	stateRow("PNG", "Papua New Guinea", RegionPacific),
	stateRow("PRY", "Paraguay", RegionAmericas),
	stateRow("PER", "Peru", RegionAmericas),
	stateRow("PHL", "Philippines", RegionAsia),
	stateRow("POL", "Poland", RegionEurope),
	stateRow("PRT", "Portugal", RegionEurope),
	stateRow("QAT", "Qatar", RegionMiddleEast),
	stateRow("KOR", "Republic of Korea", RegionAsia, "South Korea", "Korea, Republic of"),
	stateRow("MDA", "Republic of Moldova", RegionEurope, "Moldova", "Moldova, Republic of"),
	stateRow("ROU", "Romania", RegionEurope),
	stateRow("RUS", "Russian Federation", RegionEurope, "Russia"),
	stateRow("RWA", "Rwanda", RegionAfrica),
	stateRow("KNA", "Saint Kitts and Nevis", RegionAmericas),
	stateRow("LCA", "Saint Lucia", RegionAmericas),
	stateRow("VCT", "Saint Vincent and the Grenadines", RegionAmericas),
	stateRow("WSM", "Samoa", RegionPacific),
	stateRow("SMR", "San Marino", RegionEurope),
	stateRow("STP", "Sao Tome and Principe", RegionAfrica),
	stateRow("SAU", "Saudi Arabia", RegionMiddleEast),
	stateRow("SEN", "Senegal", RegionAfrica),
	stateRow("SRB", "Serbia", RegionEurope),
	stateRow("SYC", "Seychelles", RegionAfrica),
	stateRow("SLE", "Sierra Leone", RegionAfrica),
	stateRow("SGP", "Singapore", RegionAsia),
	stateRow("SVK", "Slovakia", RegionEurope, "Slovak Republic"),
	stateRow("SVN", "Slovenia", RegionEurope),
	stateRow("SLB", "Solomon Islands", RegionPacific),
	stateRow("SOM", "Somalia", RegionAfrica),
	stateRow("ZAF", "South Africa", RegionAfrica),
	stateRow("SSD", "South Sudan", RegionAfrica),
	stateRow("ESP", "Spain", RegionEurope),
	stateRow("LKA", "Sri Lanka", RegionAsia),
	stateRow("SDN", "Sudan", RegionAfrica),
	stateRow("SUR", "Suriname", RegionAmericas),
	stateRow("SWE", "Sweden", RegionEurope),
	stateRow("CHE", "Switzerland", RegionEurope),
	stateRow("SYR", "Syrian Arab Republic", RegionMiddleEast, "Syria"),
	stateRow("TJK", "Tajikistan", RegionAsia),
	stateRow("THA", "Thailand", RegionAsia),
	stateRow("TLS", "Timor-Leste", RegionAsia, "East Timor"),
	stateRow("TGO", "Togo", RegionAfrica),
	stateRow("TON", "Tonga", RegionPacific),
	stateRow("TTO", "Trinidad and Tobago", RegionAmericas),
	stateRow("TUN", "Tunisia", RegionAfrica),
	stateRow("TUR", "Türkiye", RegionEurope, "Turkey", "Republic of Türkiye"),
	stateRow("TKM", "Turkmenistan", RegionAsia),
	stateRow("TUV", "Tuvalu", RegionPacific),
	stateRow("UGA", "Uganda", RegionAfrica),
	stateRow("UKR", "Ukraine", RegionEurope),
	stateRow("ARE", "United Arab Emirates", RegionMiddleEast),
	stateRow("GBR", "United Kingdom of Great Britain and Northern Ireland", RegionEurope, "United Kingdom"),
	stateRow("TZA", "United Republic of Tanzania", RegionAfrica, "Tanzania", "Tanzania, United Republic of"),
	stateRow("USA", "United States of America", RegionAmericas, "United States"),
	stateRow("URY", "Uruguay", RegionAmericas),
	stateRow("UZB", "Uzbekistan", RegionAsia),
	stateRow("VUT", "Vanuatu", RegionPacific),
	stateRow("VEN", "Venezuela (Bolivarian Republic of)", RegionAmericas, "Venezuela", "Bolivarian Republic of Venezuela", "Venezuela, Bolivarian Republic of"),
	stateRow("VNM", "Viet Nam", RegionAsia, "Vietnam"),
	stateRow("YEM", "Yemen", RegionMiddleEast),
	stateRow("ZMB", "Zambia", RegionAfrica),
	stateRow("ZWE", "Zimbabwe", RegionAfrica),

	// Observer States of the United Nations.
	stateRow("VAT", "Holy See", RegionEurope, "Vatican", "Vatican City", "Vatican City State", "Holy See (Vatican City State)"),
	stateRow("PSE", "State of Palestine", RegionMiddleEast, "Palestine", "Palestine, State of"),

	// States in free association with New Zealand that take part in
	// treaties in their own name.
	stateRow("COK", "Cook Islands", RegionPacific),
	stateRow("NIU", "Niue", RegionPacific),
}

// stateIndex is built once from stateTable when the package is loaded.
var stateIndex = newStateIndex(stateTable[:])

type stateLookup struct {
	byISO3 map[string]Country
	byName map[string]Country
	sorted []Country
}

// newStateIndex indexes the table by code and by every normalised name. It
// panics if two entries share a code or a name, or if a name is empty, since
// the table is fixed at compile time and such a fault is a programming error.
func newStateIndex(table []stateEntry) stateLookup {
	idx := stateLookup{
		byISO3: make(map[string]Country, len(table)),
		byName: make(map[string]Country, 2*len(table)),
		sorted: make([]Country, 0, len(table)),
	}
	for _, e := range table {
		c := e.country
		if _, dup := idx.byISO3[c.ISO3]; dup {
			panic(fmt.Sprintf("events: duplicate state code %q", c.ISO3))
		}
		idx.byISO3[c.ISO3] = c
		idx.sorted = append(idx.sorted, c)
		for _, name := range append([]string{c.Name}, e.aliases...) {
			key := normalizeStateName(name)
			if key == "" {
				panic(fmt.Sprintf("events: empty state name for %s", c.ISO3))
			}
			if prev, dup := idx.byName[key]; dup && prev.ISO3 != c.ISO3 {
				panic(fmt.Sprintf("events: state name %q used by %s and %s", name, prev.ISO3, c.ISO3))
			}
			idx.byName[key] = c
		}
	}
	sort.Slice(idx.sorted, func(i, j int) bool { return idx.sorted[i].ISO3 < idx.sorted[j].ISO3 })
	return idx
}

// stateFold maps the accented letters and typographic marks found in State
// names to the plain characters they are matched as.
var stateFold = func() map[rune]rune {
	m := make(map[rune]rune)
	for plain, variants := range map[rune]string{
		'a':  "àáâãäåā",
		'c':  "çćč",
		'e':  "èéêëē",
		'i':  "ìíîïī",
		'n':  "ñ",
		'o':  "òóôõöøō",
		'u':  "ùúûüū",
		'y':  "ýÿ",
		's':  "şš",
		'\'': "’‘ʼ`´′",
		'-':  "‐‑‒–—",
	} {
		for _, r := range variants {
			m[r] = plain
		}
	}
	return m
}()

// normalizeStateName reduces a name to the key StateByName matches on: lower
// case, accents and apostrophe variants folded, runs of spaces collapsed,
// surrounding spaces and a leading "the " removed.
func normalizeStateName(s string) string {
	var b strings.Builder
	pendingSpace := false
	for _, r := range s {
		if unicode.Is(unicode.Mn, r) {
			// A combining accent from a decomposed spelling such as "o" + U+0302.
			continue
		}
		if unicode.IsSpace(r) {
			pendingSpace = b.Len() > 0
			continue
		}
		if pendingSpace {
			b.WriteByte(' ')
			pendingSpace = false
		}
		r = unicode.ToLower(r)
		if plain, ok := stateFold[r]; ok {
			r = plain
		}
		b.WriteRune(r)
	}
	return strings.TrimPrefix(b.String(), "the ")
}
