"""Real peers (webhook receiver, mastodon-mock, Bluesky PDS, WebSub hub) for the tests."""
