#!/usr/bin/env bash
# The README's walkthrough as one runnable script: every user of the product, with curl against `make run`.
#
#   AUTH_BOOTSTRAP_ADMIN_EMAIL=admin@example.cn AUTH_BOOTSTRAP_ADMIN_PASSWORD='change-me-now-42' make run
#   bash docs/walkthrough.sh            # in another terminal; needs curl and jq
#
# Variables (all optional):
#   BASE_URL        the server, default http://127.0.0.1:8000
#   ADMIN_EMAIL     the bootstrap platform admin (AUTH_BOOTSTRAP_ADMIN_EMAIL), default admin@example.cn
#   ADMIN_PASSWORD  its password (AUTH_BOOTSTRAP_ADMIN_PASSWORD), default change-me-now-42
#   RUN             suffix of the e-mail addresses and contract numbers, default the current time
#
# It stops at the first HTTP error, printing the problem+json body (curl --fail-with-body, set -e). The
# organizations' credit codes are fixed (made up, with valid GB 32100 check characters), so the walkthrough runs once
# per DATA_DIR: run again on the same data, it says "already ran on this data" and exits 0 without changing anything
# (start `make run` with a fresh DATA_DIR to see it again).
set -euo pipefail
B=${BASE_URL:-http://127.0.0.1:8000}
ADMIN_EMAIL=${ADMIN_EMAIL:-admin@example.cn}
ADMIN_PASSWORD=${ADMIN_PASSWORD:-change-me-now-42}
RUN=${RUN:-$(date +%s)}

# curl that stops at the first HTTP error, json, token, signup, known, step: see docs/lib.sh.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ADMIN=$(token "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
# Run twice on the same data? The university of step 1 is then already signed up: say so and change nothing.
DONE=$(curl -sS "$B/auth/organizations?kind=university&limit=100" -H "Authorization: Bearer $ADMIN" \
  | jq -r '.items[] | select(.credit_code == "12510000450716000B") | "\(.name) (\(.credit_code), \(.status))"')
if [ -n "$DONE" ]; then
  echo "already ran on this data: $DONE is signed up at $B; nothing changed."
  echo "To run the walkthrough again, start the server on a fresh DATA_DIR (make run DATA_DIR=/some/new/dir)."
  exit 0
fi

step "1. auth: a university signs up, the platform admin verifies it, its user logs in and asks who it is"
UNI=$(signup 四川大学 university 12510000450716000B 510107 "tto+$RUN@scu.example.cn")
curl -sS -X POST $B/auth/organizations/$UNI/verify -H "Authorization: Bearer $ADMIN" | jq -c '{name, status}'
SELLER=$(token "tto+$RUN@scu.example.cn" 'correct horse battery')
curl -sS $B/auth/me -H "Authorization: Bearer $SELLER" | jq -c '{email: .user.email, roles}'

step "2. market: the university lists a patent (draft) and publishes it with If-Match"
A=$(json $B/market/achievements -H "Authorization: Bearer $SELLER" -H "Idempotency-Key: walk-$RUN-1" -d '{
  "title": "一种无人机机载多功能盒",
  "summary": "无人机挂载的多功能数据处理盒，支持4G/5G回传与扩展接口",
  "technical_field": "aerospace", "ipc_codes": ["B64U 20/80"],
  "patents": [{"application_no": "202223220665.2", "publication_no": "CN218751475U"}],
  "ip_type": "utility_model", "trl": 6, "transfer_modes": ["transfer", "ordinary_license"],
  "price": {"kind": "range", "min_fen": 5000000, "max_fen": 12000000},
  "contact": {"name": "王老师", "phone": "028-85400000"}}')
ID=$(echo "$A" | jq -r .id)
echo "$A" | jq -c '{id, status, version}'
json -X POST $B/market/achievements/$ID/publish -H "Authorization: Bearer $SELLER" -H 'If-Match: "v1"' | jq -c '{status, version}'
curl -sS $B/market/achievements/$ID | jq -c '{status, title, contact}'     # anonymous: no contact
A2=$(json $B/market/achievements -H "Authorization: Bearer $SELLER" -H "Idempotency-Key: walk-$RUN-2" -d '{
  "title": "一种基于深度学习的工业产品表面缺陷视觉检测方法",
  "summary": "采集产品表面图像，用卷积神经网络识别划痕、凹坑和气泡等缺陷，适用于金属板材、电池极片和玻璃的在线检测",
  "keywords": ["图像识别", "缺陷检测", "机器视觉"],
  "technical_field": "electronic_information", "ipc_codes": ["G06T 7/00"], "ip_type": "invention_patent", "trl": 6,
  "transfer_modes": ["ordinary_license", "transfer"], "price": {"kind": "range", "min_fen": 30000000, "max_fen": 90000000},
  "contact": {"name": "王老师", "phone": "028-85400000"}}' | jq -r .id)
json -X POST $B/market/achievements/$A2/publish -H "Authorization: Bearer $SELLER" -H 'If-Match: "v1"' | jq -c '{status}'

step "3. market: an enterprise posts a demand and publishes it"
ENT=$(signup 成都某智能装备有限公司 enterprise 91510100MA61R0X80P 510116 "rd+$RUN@equip.example.cn")
curl -sS -X POST $B/auth/organizations/$ENT/verify -H "Authorization: Bearer $ADMIN" >/dev/null
BUYER=$(token "rd+$RUN@equip.example.cn" 'correct horse battery')
D=$(json $B/market/demands -H "Authorization: Bearer $BUYER" -d '{
  "title": "锂电池极片缺陷在线检测",
  "description": "需要一套在线视觉检测系统，识别涂布极片的划痕、气泡和漏箔，待处理数据量大。",
  "technical_field": "advanced_manufacturing", "desired_trl": 6,
  "cooperation_modes": ["commissioned_development"],
  "budget": {"kind": "fixed", "min_fen": 80000000}, "deadline": "2027-06-30",
  "contact": {"name": "李工", "phone": "13800000000"}}' | jq -r .id)
json -X POST $B/market/demands/$D/publish -H "Authorization: Bearer $BUYER" -H 'If-Match: "v1"' | jq -c '{status}'

step "4. search: Chinese full-text search with a filter and a facet (the relay delivers within seconds)"
sleep 3
curl -sS -G $B/search/achievements --data-urlencode q=无人机 -d technical_field=aerospace -d facets=region,technical_field \
  | jq -c '{total, hits: [.hits[] | {title, snippet}], facets}'
curl -sS -G $B/search/demands --data-urlencode q=处理 | jq -c '{total, titles: [.hits[].title]}'   # 处理 inside 待处理

step "4b. matching: a need written as a sentence finds achievements, by search and by suggestions with reasons"
curl -sS -G $B/search/achievements --data-urlencode 'q=寻求图像识别方面的技术合作，用于工业产品表面缺陷检测' \
  | jq -c '{query_words, hits: [.hits[] | {title, matched_terms}]}'
curl -sS "$B/market/demands/$D/suggestions?limit=3" -H "Authorization: Bearer $BUYER" \
  | jq -c '.items[] | {title: .listing.title, score, reasons: [.reasons[] | {kind, label: .label}]}'

step "5. contracts: a registration office and its registrar, a statistician at the center"
OFFICE=$(signup 成都市技术市场登记处 registration_office 12510100MB1A2C3D4R 510100 "head+$RUN@office.example.cn")
curl -sS -X POST $B/auth/organizations/$OFFICE/verify -H "Authorization: Bearer $ADMIN" >/dev/null
HEAD=$(token "head+$RUN@office.example.cn" 'correct horse battery')
json $B/auth/organizations/$OFFICE/members -H "Authorization: Bearer $HEAD" \
  -d "{\"email\": \"reg+$RUN@office.example.cn\", \"name\": \"登记员\", \"password\": \"correct horse battery\", \"roles\": [\"registrar\"]}" >/dev/null
CENTER=$(curl -sS $B/auth/me -H "Authorization: Bearer $ADMIN" | jq -r '.memberships[0].organization.id')
json $B/auth/organizations/$CENTER/members -H "Authorization: Bearer $ADMIN" \
  -d "{\"email\": \"stats+$RUN@center.example.cn\", \"name\": \"统计员\", \"password\": \"correct horse battery\", \"roles\": [\"statistician\"]}" >/dev/null
REGISTRAR=$(token "reg+$RUN@office.example.cn" 'correct horse battery')
STATS=$(token "stats+$RUN@center.example.cn" 'correct horse battery')
known $OFFICE   # the verified office is in market's directory: its office row exists, contracts route to it
curl -sS "$B/market/directory/organizations/$OFFICE" | jq -c '{name, kind, region_code, verified}'

step "6. the seller submits a contract with a Chongqing buyer (in its own name: the seller's credit code is its own)"
C=$(json $B/market/contracts -H "Authorization: Bearer $SELLER" -H "Idempotency-Key: walk-$RUN-c1" -d "{
  \"seller\": {\"name\": \"四川大学\", \"credit_code\": \"12510000450716000B\", \"region_code\": \"510107\", \"entity_type\": \"university\"},
  \"buyer\": {\"name\": \"重庆某某科技有限公司\", \"credit_code\": \"91500103MA5U7XY00F\", \"region_code\": \"500103\",
            \"entity_type\": \"enterprise\", \"ownership\": \"private\"},
  \"kind\": \"transfer\", \"subkind\": \"patent_right_transfer\", \"technical_field\": \"aerospace\",
  \"title\": \"一种无人机机载多功能盒专利权转让\", \"contract_no\": \"SCU-$RUN\", \"signed_on\": \"2026-11-01\",
  \"contract_amount_fen\": 123456789, \"technology_amount_fen\": 100000000}")
echo "$C" | jq -c "{status, flow, office_id, verification: [.seller.verification, .buyer.verification], errors}"
CID=$(echo "$C" | jq -r .id)

step "7. the registrar registers it (lowering the technology amount), then an amendment"
json -X POST $B/market/contracts/$CID/register -H "Authorization: Bearer $REGISTRAR" \
  -d '{"technology_amount_fen": 95000000}' | jq -c '{status, registration_no, registered_on}'
json -X POST $B/market/contracts/$CID/amend -H "Authorization: Bearer $REGISTRAR" \
  -d "{\"effective_on\": \"$(TZ=Asia/Shanghai date +%F)\", \"contract_amount_fen\": 150000000, \"technology_amount_fen\": 120000000, \"reason\": \"补充协议一\"}" \
  | jq -c '{status, detail}'

step "8. the statistician follows the figures; the public sees the headline"
curl -sS $B/market/stats/cumulative -H "Authorization: Bearer $STATS" | jq -c 'del(.monthly)'
curl -sS "$B/market/stats/contracts?group_by=year,flow" -H "Authorization: Bearer $STATS" | jq -c '.rows'
curl -sS $B/market/stats/public | jq -c 'del(.monthly)'

step "9. brokerage: a transfer institution's broker proposes the patent for the demand; both owners accept"
json $B/auth/signup -d "{\"organization\": {\"name\": \"四川某技术转移中心\", \"kind\": \"transfer_institution\",
  \"credit_code\": \"52510104MA6BJ7K30T\", \"region_code\": \"510104\", \"parent_id\": \"$CENTER\"},
  \"user\": {\"email\": \"head+$RUN@tt.example.cn\", \"password\": \"correct horse battery\", \"name\": \"机构负责人\"}}" >/dev/null
TI=$(orgof "head+$RUN@tt.example.cn" 'correct horse battery')
curl -sS -X POST $B/auth/organizations/$TI/verify -H "Authorization: Bearer $ADMIN" >/dev/null
TIHEAD=$(token "head+$RUN@tt.example.cn" 'correct horse battery')
json $B/auth/organizations/$TI/members -H "Authorization: Bearer $TIHEAD" -d "{\"email\": \"broker+$RUN@tt.example.cn\",
  \"name\": \"张经纪\", \"password\": \"correct horse battery\", \"roles\": [\"broker\"], \"broker_certificate_no\": \"JJR-2026-0001\"}" >/dev/null
BROKER=$(token "broker+$RUN@tt.example.cn" 'correct horse battery')
known $TI
P=$(json $B/market/proposals -H "Authorization: Bearer $BROKER" -H "Idempotency-Key: walk-$RUN-p1" -d "{
  \"demand_id\": \"$D\", \"achievement_id\": \"$A2\", \"cooperation_mode\": \"license\",
  \"note\": \"该专利的视觉检测方法可直接用于极片缺陷在线检测\", \"price\": {\"kind\": \"range\", \"min_fen\": 50000000, \"max_fen\": 80000000}}")
echo "$P" | jq -c '{status, seller: .seller_org_id, buyer: .buyer_org_id, contacts}'
PID=$(echo "$P" | jq -r .id)
json -X POST $B/market/proposals/$PID/accept -H "Authorization: Bearer $SELLER" -H 'If-Match: "v1"' | jq -c '{status, contacts}'
json -X POST $B/market/proposals/$PID/accept -H "Authorization: Bearer $BUYER" -H 'If-Match: "v2"' | jq -c '{status, contacts}'
curl -sS $B/market/proposals/$PID -H "Authorization: Bearer $BROKER" | jq -c '{status, contacts}'   # the broker sees both

step "10. the deal becomes a contract: the broker completes the prefilled draft, the registrar registers it"
DRAFT=$(curl -sS $B/market/proposals/$PID/contract-draft -H "Authorization: Bearer $BROKER")
echo "$DRAFT" | jq -c '{missing, kind: .contract.kind, subkind: .contract.subkind, seller: .contract.seller.name, buyer: .contract.buyer.name}'
BODY=$(echo "$DRAFT" | jq -c --arg no "BRK-$RUN" --arg day "$(TZ=Asia/Shanghai date +%F)" '.contract
  + {contract_no: $no, signed_on: $day, contract_amount_fen: 66000000, technology_amount_fen: 60000000}
  | .buyer.ownership = "private"')
C2=$(json $B/market/contracts -H "Authorization: Bearer $BROKER" -d "$BODY")
echo "$C2" | jq -c '{status, proposal_id, broker_org_id, office_id, errors}'
json -X POST $B/market/contracts/$(echo "$C2" | jq -r .id)/register -H "Authorization: Bearer $REGISTRAR" -d '{}' \
  | jq -c '{status, registration_no, follow_ups: [.follow_ups[] | {listing, action}]}'

step "11. the broker's performance and the statistics' broker_org breakdown show the same amounts"
curl -sS "$B/market/brokers/$TI/performance" -H "Authorization: Bearer $BROKER" | jq -c '.totals'
curl -sS "$B/market/stats/contracts?group_by=broker_org&broker_org=$TI" -H "Authorization: Bearer $STATS" \
  | jq -c '[.rows[] | {count, contract_amount_fen, technology_amount_fen}]'
