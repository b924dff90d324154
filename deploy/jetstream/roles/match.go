package roles

import "strings"

// Match reports whether subject is matched by pattern, where "*" matches
// one token and a final ">" one or more, as the server matches a
// permission against a literal subject.
func Match(pattern, subject string) bool {
	pt := strings.Split(pattern, ".")
	st := strings.Split(subject, ".")
	for i, p := range pt {
		if p == ">" {
			return len(st) > i
		}
		if i >= len(st) || (p != "*" && p != st[i]) {
			return false
		}
	}
	return len(pt) == len(st)
}

func matchAny(patterns []string, subject string) bool {
	for _, p := range patterns {
		if Match(p, subject) {
			return true
		}
	}
	return false
}

// MayPublish reports whether the role may publish to the literal subject:
// an allowance matches it and no denial does.
func (r Role) MayPublish(subject string) bool {
	return matchAny(r.Publish, subject) && !matchAny(r.PublishDeny, subject)
}

// MaySubscribe is MayPublish for subscriptions.
func (r Role) MaySubscribe(subject string) bool {
	return matchAny(r.Subscribe, subject) && !matchAny(r.SubscribeDeny, subject)
}
