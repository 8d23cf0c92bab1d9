import Foundation
import Testing
@testable import RunnerKit

@Suite struct JSONWriterTests {
    /// Whatever the text, the writer's output parses back to it.
    @Test(arguments: ["plain", "quote \" and backslash \\", "new\nline\ttab\r", "\u{0}\u{1}\u{1f}", "ünïcødé 🎬", "</script>", ""])
    func stringsRoundTrip(_ text: String) throws {
        var json = JSONWriter()
        json.beginObject()
        json.field("value", text)
        json.key("list")
        json.beginArray()
        json.string(text)
        json.integer(-42)
        json.bool(true)
        json.endArray()
        json.key("map")
        json.object([text: text])
        json.endObject()
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(json.bytes)) as? [String: Any])
        #expect(parsed["value"] as? String == text)
        let list = try #require(parsed["list"] as? [Any])
        #expect(list.count == 3)
        #expect(list[0] as? String == text)
        #expect(list[1] as? Int == -42)
        #expect((parsed["map"] as? [String: String])?[text] == text)
    }
}
