/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Demo data for `tripdeal-app --seed-demo`, shared by both backends.  Every
 * row has a seed_key; the backends insert with ON CONFLICT (seed_key), so
 * seeding twice adds nothing.  Deals already there get their window moved to
 * the new `now` when nobody has claimed them yet or they have ended (a demo
 * database keeps a sale open on later days); claimed, running deals are left
 * alone.
 */
#include "store-internal.h"

#define HOUR (60 * 60)
#define DAY  (24 * HOUR)

const struct seed_product store_seed_products[] = {
        {"jeju-4d", "제주도 3박 4일 Jeju Island 4 days", "제주 Jeju",
         "한라산 트레킹과 해안 드라이브. Hallasan trekking and a coastal drive.", 459000, true},
        {"busan-3d", "부산 2박 3일 Busan city & beach 3 days", "부산 Busan",
         "해운대, 감천문화마을, 자갈치 시장. Haeundae, Gamcheon and Jagalchi market.", 289000,
         true},
        {"tokyo-5d", "도쿄 4박 5일 Tokyo 5 days", "도쿄 Tokyo",
         "신주쿠 호텔 포함, 디즈니 입장권 선택. Shinjuku hotel, optional Disney tickets.", 899000,
         true},
        {"danang-5d", "다낭 3박 5일 Da Nang resort 5 days", "다낭 Da Nang",
         "풀빌라 리조트와 바나힐. Pool villa resort and Ba Na Hills.", 749000, true},
        {"gyeongju-2d", "경주 1박 2일 Gyeongju heritage 2 days", "경주 Gyeongju",
         "불국사와 석굴암, 야경 투어. Bulguksa, Seokguram and a night tour.", 159000, false},
        {"sokcho-2d", "속초 1박 2일 Sokcho & Seoraksan 2 days", "속초 Sokcho",
         "설악산 케이블카와 대포항 회센터. Seoraksan cable car and Daepo port.", 179000, false},
        {"osaka-4d", "오사카 3박 4일 Osaka & Kyoto 4 days", "오사카 Osaka",
         "유니버설 스튜디오와 교토 당일치기. Universal Studios and a Kyoto day trip.", 699000,
         false},
        {"bangkok-5d", "방콕 3박 5일 Bangkok 5 days", "방콕 Bangkok",
         "왕궁, 수상시장, 루프탑 바. Grand Palace, floating market, rooftop bars.", 629000, false},
};
const size_t store_seed_products_count = ARRAY_SIZE(store_seed_products);

const struct seed_deal store_seed_deals[] = {
        /* Open now: the one the 10:00 sale is about. */
        {"jeju-flash", "jeju-4d", "[타임세일] 제주도 3박 4일 Jeju Island 4 days — 50% off", 229000,
         459000, 100, -1 * HOUR, 23 * HOUR},
        {"busan-flash", "busan-3d", "[타임세일] 부산 2박 3일 Busan 3 days", 199000, 289000, 60,
         -2 * HOUR, 10 * HOUR},
        /* Upcoming: starts in a few hours. */
        {"tokyo-next", "tokyo-5d", "[오픈 예정] 도쿄 4박 5일 Tokyo 5 days", 599000, 899000, 50,
         3 * HOUR, 5 * HOUR},
        /* Ended yesterday. */
        {"danang-ended", "danang-5d", "[종료] 다낭 3박 5일 Da Nang 5 days", 499000, 749000, 30,
         -1 * DAY - 2 * HOUR, -1 * DAY},
};
const size_t store_seed_deals_count = ARRAY_SIZE(store_seed_deals);

const struct seed_post store_seed_posts[] = {
        {"post-01", "민지", "제주 올레길 최고예요", "7코스 해안길이 정말 아름다웠어요. 강력 추천!",
         5, 1 * HOUR},
        {"post-02", "Alex", "Busan in November", "Haeundae was quiet and the seafood was great.", 4,
         3 * HOUR},
        {"post-03", "서준", "도쿄 디즈니 팁", "평일 아침 일찍 가면 대기 시간이 짧아요.", 5,
         5 * HOUR},
        {"post-04", "Emily", "Da Nang pool villa", "Worth every won. Staff spoke English too.", 5,
         8 * HOUR},
        {"post-05", "지훈", "경주 야경 투어 후기", "동궁과 월지 야경은 꼭 보세요.", 4, 12 * HOUR},
        {"post-06", "Chris", "Sokcho cable car", "Go before 9am or expect a long queue.", 3,
         1 * DAY},
        {"post-07", "하은", "오사카 먹방 여행", "도톤보리 타코야키 3군데 비교해봤어요 🐙", 5,
         1 * DAY + 4 * HOUR},
        {"post-08", "Sam", "Bangkok rooftop bars", "Sky bars are pricey but the view is unreal.", 4,
         1 * DAY + 9 * HOUR},
        {"post-09", "예린", "타임세일 성공!",
         "10시 정각에 눌렀더니 제주 딜 잡았어요 ✈️", 5, 2 * DAY},
        {"post-10", "Jordan", "Jeju rental car", "Book the car with the package, it is cheaper.", 4,
         2 * DAY + 6 * HOUR},
        {"post-11", "도윤", "부산 자갈치 시장", "회는 2층에서 먹는 게 편해요.", 4, 3 * DAY},
        {"post-12", "Mia", "Tokyo in 5 days", "Too short! Plan fewer day trips.", 3,
         3 * DAY + 5 * HOUR},
        {"post-13", "수아", "다낭 바나힐 날씨", "산 위는 추우니 겉옷 챙기세요.", 4, 4 * DAY},
        {"post-14", "Noah", "Gyeongju by bike", "Rent a bike near the bus terminal.", 5,
         4 * DAY + 7 * HOUR},
        {"post-15", "시우", "속초 대포항", "대게는 흥정하면 조금 깎아줘요.", 3, 5 * DAY},
        {"post-16", "Olivia", "Osaka Universal", "Get the express pass, seriously.", 4,
         5 * DAY + 3 * HOUR},
        {"post-17", "지아", "방콕 수상시장", "아침 일찍 가야 덜 붐벼요.", 4, 6 * DAY},
        {"post-18", "Liam", "Family trip to Jeju", "Kids loved the horse riding.", 5,
         6 * DAY + 8 * HOUR},
        {"post-19", "유준", "제주 흑돼지 맛집", "줄 서는 집은 이유가 있더라고요.", 5, 7 * DAY},
        {"post-20", "Ava", "Missed the flash sale", "Sold out in two minutes. Next time!", 2,
         7 * DAY + 2 * HOUR},
        {"post-21", "서아", "도쿄 호텔 위치", "신주쿠역에서 도보 5분이라 편했어요.", 4, 8 * DAY},
        {"post-22", "Ethan", "Busan night view", "Hwangnyeongsan at sunset — go.", 5,
         8 * DAY + 4 * HOUR},
        {"post-23", "하준", "다낭 마사지", "리조트보다 시내가 훨씬 저렴해요.", 4, 9 * DAY},
        {"post-24", "Grace", "Seoraksan hike", "Ulsanbawi is steep but worth it.", 5,
         9 * DAY + 6 * HOUR},
        {"post-25", "은우", "첫 해외여행 오사카", "TripDeal 패키지라 걱정 없이 다녀왔어요.", 5,
         10 * DAY},
};
const size_t store_seed_posts_count = ARRAY_SIZE(store_seed_posts);
