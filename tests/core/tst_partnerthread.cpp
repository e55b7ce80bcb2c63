// SPDX-License-Identifier: MIT
// PartnerThread: both parts of every job run exactly once, each with its own job's
// data; the partner takes the second part when it is there in time, the caller takes
// it when the partner is late; the partner sleeps and wakes, and stops promptly.
#include "support/partnerthread_p.h"

#include <QtTest>

#include <atomic>
#include <chrono>
#include <vector>

using primaps::detail::PartnerThread;

class TestPartnerThread : public QObject
{
    Q_OBJECT

private slots:
    void everyPartRunsOnceWithItsOwnJob()
    {
        // Short jobs back to back: the partner and the caller race for part 1 of each.
        PartnerThread partner;
        const int jobs = 20000;
        std::vector<int> first(jobs, 0), second(jobs, 0);
        for (int job = 0; job < jobs; ++job)
            partner.runTwo([&, job](int which) { ++(which == 0 ? first : second)[std::size_t(job)]; });
        for (int job = 0; job < jobs; ++job) {
            QCOMPARE(first[std::size_t(job)], 1);
            QCOMPARE(second[std::size_t(job)], 1);
        }
        QCOMPARE(partner.partnerRan() + partner.callerRan(), long(jobs));
        qInfo("second parts run by the partner: %ld of %d", partner.partnerRan(), jobs);
    }

    void partnerTakesTheSecondPartWhileTheCallerWorks()
    {
        // Part 0 waits until part 1 has started, so part 1 can only have run on the
        // partner (the deadline only keeps a broken build from hanging).
        PartnerThread partner;
        for (int job = 0; job < 20; ++job) {
            std::atomic<bool> secondStarted{false};
            partner.runTwo([&](int which) {
                if (which == 1) {
                    secondStarted = true;
                    return;
                }
                const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
                while (!secondStarted && std::chrono::steady_clock::now() < deadline)
                    std::this_thread::yield();
            });
            QVERIFY(secondStarted);
        }
        QCOMPARE(partner.partnerRan(), 20L);
        QCOMPARE(partner.callerRan(), 0L);
    }

    void callerTakesTheSecondPartFromASleepingPartner()
    {
        // No spinning: the partner is asleep when each job comes. An empty part 0 is over
        // long before a sleeping thread wakes, so the caller runs part 1 itself.
        PartnerThread partner(std::chrono::microseconds(0));
        int secondParts = 0;
        for (int job = 0; job < 200; ++job) {
            std::this_thread::sleep_for(std::chrono::microseconds(200)); // let it fall asleep
            partner.runTwo([&](int which) { secondParts += which; });
        }
        QCOMPARE(secondParts, 200);
        QVERIFY(partner.callerRan() > 0);
        qInfo("second parts run by the caller: %ld of 200", partner.callerRan());
    }

    void disengagesWhenThePartnerKeepsTheCallerWaiting()
    {
        // Part 1 takes 30 ms on the partner (as if another process had its core): after
        // the second such wait the caller runs both parts itself. (A caller preempted for
        // longer than that does not wait, hence up to ten tries.)
        PartnerThread partner;
        int tries = 0;
        for (; partner.engaged() && tries < 10; ++tries) {
            std::atomic<bool> secondStarted{false};
            partner.runTwo([&](int which) {
                if (which == 1) {
                    secondStarted = true;
                    std::this_thread::sleep_for(std::chrono::milliseconds(30));
                    return;
                }
                const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
                while (!secondStarted && std::chrono::steady_clock::now() < deadline)
                    std::this_thread::yield();
            });
        }
        QVERIFY(!partner.engaged());
        QVERIFY(tries >= 2);
        QCOMPARE(partner.partnerRan(), long(tries));
        int secondParts = 0;
        for (int job = 0; job < 10; ++job)
            partner.runTwo([&](int which) { secondParts += which; });
        QCOMPARE(secondParts, 10);
        QCOMPARE(partner.partnerRan(), long(tries));
        QCOMPARE(partner.callerRan(), 10L);
    }

    void stopsPromptlyWhetherSpinningOrAsleep()
    {
        const auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < 50; ++i) {
            PartnerThread spinning(std::chrono::seconds(60)); // stopped while it spins
            spinning.runTwo([](int) {});
        }
        for (int i = 0; i < 50; ++i) {
            PartnerThread sleeping(std::chrono::microseconds(0));
            std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
        QVERIFY(std::chrono::steady_clock::now() - start < std::chrono::seconds(20));
    }
};

QTEST_APPLESS_MAIN(TestPartnerThread)
#include "tst_partnerthread.moc"
