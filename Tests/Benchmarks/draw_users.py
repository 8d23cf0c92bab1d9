"""Users drawn as requests come: in proportion to how many ratings each has (active users ask
for recommendations more), with replacement. Prints a JSON list of user ids on stdout, and on
stderr how active the drawn users are beside the catalogue's users.

    python3 Tests/Benchmarks/draw_users.py DATABASE_URL COUNT [SEED]
"""
import json, random, statistics, subprocess, sys

url, count = sys.argv[1], int(sys.argv[2])
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
rows = subprocess.run(["psql", "-qAtX", url, "-F", ",", "-c", "SELECT user_id, count FROM user_stats WHERE count > 0"],
                      check=True, capture_output=True, text=True).stdout.split()
users, counts = [], []
for row in rows:
    user, n = row.split(",")
    users.append(int(user)); counts.append(int(n))
drawn = random.Random(seed).choices(range(len(users)), weights=counts, k=count)
activity = sorted(counts)
print(f"users: {len(users):,}, ratings per user min {activity[0]}, median {statistics.median(activity):.0f}, "
      f"p90 {activity[len(activity) * 9 // 10]}, max {activity[-1]}; {count} requests drawn by activity: "
      f"median requester has {statistics.median(counts[i] for i in drawn):.0f} ratings", file=sys.stderr)
print(json.dumps([users[i] for i in drawn]))
