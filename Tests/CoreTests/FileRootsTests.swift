import Foundation
import Testing
@testable import Core

/// Local paths named by requests: under the roots only, checked before and after symlinks, the
/// same answer whether a path outside exists or not, outputs only into new directories.
@Suite struct FileRootsTests {
    func scratch() throws -> String {
        var template = Array("/tmp/movierec-roots-XXXXXX".utf8CString)
        let made = try #require(mkdtemp(&template))
        return FileRoots.resolved(String(cString: made)) ?? String(cString: made)
    }

    @Test func pathsOutsideTheRootsAreNotAllowedWhetherOrNotTheyExist() throws {
        let root = try scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let roots = FileRoots(roots: [root])
        var messages: Set<String> = []
        for path in ["/etc", "/root/.ssh", "/no/such/place", root + "/../../etc"] {
            do {
                _ = try roots.directoryToRead(path, field: "source")
                Issue.record("\(path) was allowed")
            } catch {
                #expect(error.status == 403)
                messages.insert(error.message.replacingOccurrences(of: path, with: "PATH"))
            }
        }
        #expect(messages.count == 1, "\(messages)")
        #expect(try roots.directoryToRead(root + "/.", field: "source") == root)
    }

    @Test func symlinksCannotLeadOut() throws {
        let root = try scratch(), outside = try scratch()
        defer { try? FileManager.default.removeItem(atPath: root); try? FileManager.default.removeItem(atPath: outside) }
        symlink(outside, root + "/out")
        let roots = FileRoots(roots: [root])
        #expect(throws: FunctionError.self) { try roots.directoryToRead(root + "/out", field: "source") }
        #expect(throws: FunctionError.self) { try roots.newDirectory(root + "/out/new", field: "output") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty)
    }

    @Test func outputsGoOnlyIntoNewDirectoriesAndNeverThroughLinks() throws {
        let root = try scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let roots = FileRoots(roots: [root])
        let made = try roots.newDirectory(root + "/fresh", field: "output")
        #expect(made == root + "/fresh")
        do { _ = try roots.newDirectory(root + "/fresh", field: "output"); Issue.record("an existing directory was accepted") } catch { #expect(error.status == 409) }
        // A file planted as a link is not followed (BufferedFile opens with O_EXCL | O_NOFOLLOW).
        let victim = root + "/victim"
        FileManager.default.createFile(atPath: victim, contents: Data("precious".utf8))
        symlink(victim, made + "/ratings.csv")
        #expect(throws: FunctionError.self) { _ = try BufferedFile(path: made + "/ratings.csv") }
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious")
    }

    @Test func withoutTheVariableAPersonsOwnPathsAreTheirs() throws {
        let root = try scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(try FileRoots(roots: nil).directoryToRead(root, field: "source") == root)
        #expect(throws: FunctionError.self) { try FileRoots(roots: []).directoryToRead(root, field: "source") }
    }
}
